"""The template language: lexing and parsing edge cases, errors, escaping, formatting,
catalogues. The spec's own vectors are in test_template_vectors.py."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from postback.domain.catalogue import ITEM_ROWS
from postback.domain.records import EventKind
from postback.errors import PostbackError
from postback.template import (
    Catalogue,
    Parameter,
    ParamType,
    TemplateError,
    catalogue_for,
    compile_template,
    sample_params,
)
from postback.template.escaping import CONTEXTS

ITEMS = [{"sku": "A1", "qty": 2, "amt": "1.5"}, {"sku": "B 2", "qty": 1, "amt": 3}]


def render(text: str, params: dict[str, Any] | None = None, context: str = "text") -> str:
    return compile_template(text, context).render(params or {})


def error(text: str, context: str = "url", catalogue: Catalogue | None = None) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        compile_template(text, context, catalogue)
    return caught.value


# -- lexing: lenient braces and escapes ---------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{CampaignId}}", "{7}"),
        ("}{CampaignId}{", "}7{"),
        ("{ CampaignId}", "{ CampaignId}"),
        ("{CampaignId }", "{CampaignId }"),
        ("{Campaign-Id}", "{Campaign-Id}"),
        ("{i.sku.x}", "{i.sku.x}"),
        ("{.sku}", "{.sku}"),
        ("{", "{"),
        ("}", "}"),
        ("", ""),
        ("{join x}", "{join x}"),
        ("{join\n}", "{join\n}"),
        ("{Ünï}", "{Ünï}"),
    ],
)
def test_a_brace_that_opens_no_expression_is_text(text: str, expected: str) -> None:
    assert render(text, {"CampaignId": 7}) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\{CampaignId\\}", "{CampaignId}"),
        ("\\{{CampaignId}\\}", "{7}"),
        ("a\\b\\n", "a\\b\\n"),
        ('say \\"{CampaignId}\\"', 'say \\"7\\"'),
        ("C:\\\\{CampaignId}", "C:\\\\7"),  # a JSON \\ passes through whole
        ("end\\", "end\\"),
        ('\\{join(items, i, "x")}', '{join(items, i, "x")}'),
    ],
)
def test_escapes_outside_strings(text: str, expected: str) -> None:
    assert render(text, {"CampaignId": 7}) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{join(items, i, "\\{i\\}")}', "{i}{i}"),
        ('{join(items, i, "\\\\{i}")}', "\\1\\2"),
        ('{join(items, i, "\\"{i.sku}\\"", ",")}', '"A1","B 2"'),
        ('{join(items, i, "a\\tb")}', "a\\tba\\tb"),
        ('{join(items, i, "{i}", "{i}", "{CampaignId}")}', "{CampaignId}1{i}2"),
        ('{join(items, i, "{i", "}")}', "{i}{i"),
        ('{join(items, i, "{i.sku\\}")}', "{i.sku}{i.sku}"),
        ('{join (items, i, "{i}")}', "12"),
        ('{join(items, i, "a)}b")}', "a)}ba)}b"),
        ('{join(items,i,"{i}",",")}', "1,2"),
        ('{join(items, i, "")}', ""),
        ('{join(items, i, "{i}", "", "?")}', "?12"),
    ],
)
def test_join_string_literals(text: str, expected: str) -> None:
    assert render(text, {"items": ITEMS, "CampaignId": 7}) == expected


def test_percent_signs_survive_the_render_plan() -> None:
    params = {"ActionId": "%s%%", "items": ITEMS, "Note": "50%"}
    text = '100%s%%{ActionId}%{join(items, i, "%{Note}%{i}%%s", "%", "%")}%d'
    assert render(text, params) == "100%s%%%s%%%%%50%%1%%s%%50%%2%%s%d"


def test_a_join_without_items_or_with_null_items() -> None:
    text = 'a{join(items, i, "{i}", ",", "?")}b'
    assert render(text, {}) == "ab"
    assert render(text, {"items": None}) == "ab"
    assert render(text, {"items": ()}) == "ab"
    assert render(text, {"items": ({"sku": "x"},)}) == "a?1b"


def test_null_items_render_empty_fields_and_many_items_count_on() -> None:
    assert render('{join(items, i, "{i}:{i.sku}", ",")}', {"items": [None, {}]}) == "1:,2:"
    many = render('{join(items, i, "{i}", ",")}', {"items": [{}] * 1100})
    assert many.split(",")[-1] == "1100"
    assert len(many.split(",")) == 1100


# -- parse and check errors -----------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ('{join(items, i, "x"', 0, "not closed"),
        ('{join(items, i, "x") }', 0, "followed directly by }"),
        ('{join(items, i, "x",)}', 0, "missing between two commas"),
        ('{join(items, i, , "x")}', 0, "missing between two commas"),
        ("{join()}", 0, "needs items, a loop variable and a FORMAT"),
        ("{join(items, i)}", 0, "needs items"),
        ('{join(items i "x")}', 0, "comma is missing"),
        ('{join("items", i, "x")}', 0, "is a name, not a string"),
        ('{join(items, "i", "x")}', 0, "is a name, not a string"),
        ("{join(items, i, x)}", 0, "strings in double quotes"),
        ('{join(items, i, "x", y)}', 0, "strings in double quotes"),
        ('ab{join(items, i, "x)}', 2, "never ends"),
        ('{join(items, i, "x" + "y")}', 0, "unexpected '+'"),
        ('{join(products, i, "x")}', 0, "not products"),
        ('{join(items, Payout, "x")}', 0, "is a parameter's name"),
        ('{join(items, i, "\\"{join (items, j, \\"x\\")}")}', 19, "cannot be nested"),
    ],
)
def test_malformed_joins(text: str, position: int, words: str) -> None:
    found = error(text)
    assert (found.code, found.position) == ("malformed_join", position)
    assert words in str(found)
    assert '{join(items, i, "sku{i}={i.sku}", "&", "?")}' in str(found)


def test_a_join_needs_a_kind_with_items() -> None:
    inquiry = catalogue_for(EventKind.ACTION_INQUIRY)
    found = error('{join(items, i, "{i}")}', catalogue=inquiry)
    assert found.code == "malformed_join"
    assert "action_inquiry events have no items" in str(found)


def test_positions_inside_a_format_map_back_through_escapes() -> None:
    text = '{join(items, i, "\\"\\\\\\{{i.nope}")}'
    found = error(text)
    assert found.code == "unknown_item_field"
    assert text[found.position :].startswith("{i.nope}")
    assert found.position == 23


def test_syntax_errors_anywhere_come_before_name_errors() -> None:
    # Syntax errors first: malformed_join / malformed_function first.
    found = error('{Nope} {join(products, i, "x")}')
    assert (found.code, found.position) == ("malformed_join", 7)
    found = error('{join(products, i, "x")} {Nope}')
    assert (found.code, found.position) == ("malformed_join", 0)
    found = error("{Nope} {Status|upper }")
    assert (found.code, found.position) == ("malformed_function", 7)
    found = error('{Nope} {join(items, i, "{i.sku|}")}')
    assert (found.code, found.position) == ("malformed_function", 24)


@pytest.mark.parametrize(
    ("text", "code", "position", "message"),
    [
        (
            "https://p.example/?c={CampaignID}",
            "unknown_parameter",
            21,
            "unknown parameter {CampaignID} at 21; did you mean {CampaignId}?",
        ),
        ("{Payot}", "unknown_parameter", 0, "did you mean {Payout}"),
        ("{amount}", "unknown_parameter", 0, "did you mean {Amount}?"),
        ("{Zzzzz}", "unknown_parameter", 0, "GET /v1/parameters/action"),
        ("{i}", "unknown_parameter", 0, "unknown parameter {i} at 0"),
        ("{join}", "unknown_parameter", 0, "unknown parameter {join}"),
        ('{join(items, i, "{i.skus}")}', "unknown_item_field", 17, "did you mean {i.sku}?"),
        ('{join(items, i, "{i.price}")}', "unknown_item_field", 17, "sku, name, cat, itemlist"),
        ('{join(items, it, "{i.sku}")}', "unknown_loop_variable", 18, "write {it.sku}"),
        ("x{i.sku}", "unknown_loop_variable", 1, "only inside a join's FORMAT"),
        ("{CampaignId.x}", "unknown_loop_variable", 0, "unknown loop variable CampaignId"),
        ('{join(items, it, "{ite}")}', "unknown_parameter", 18, "did you mean {it}?"),
    ],
)
def test_errors_say_what_to_write(text: str, code: str, position: int, message: str) -> None:
    found = error(text)
    assert (found.code, found.position) == (code, position)
    assert message in str(found)


def test_names_are_checked_against_the_kind_catalogue() -> None:
    catalog = catalogue_for(EventKind.CATALOG_CHANGE)
    found = error("{Payout}", catalogue=catalog)
    assert found.code == "unknown_parameter"
    assert "GET /v1/parameters/catalog_change" in str(found)
    assert "did you mean {CurrentPrice}" not in str(found)
    assert "{Labels}" in str(error("{Label}", catalogue=catalog))
    assert compile_template("{CatalogItemId}", "url", catalog).parameters == {"CatalogItemId"}


def test_template_error_is_a_postback_error_and_pickles() -> None:
    found = error("{Nope}")
    assert isinstance(found, PostbackError)
    again = pickle.loads(pickle.dumps(found))
    assert (again.code, again.position, str(again)) == (found.code, found.position, str(found))
    assert "unknown_parameter" in repr(found)
    assert found.parameter == "Nope"


def test_an_unknown_context_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="use one of url, query, json, xml, header, text"):
        compile_template("x", "html")


# -- what a compiled template tells ---------------------------------------------------
def test_template_reports_the_names_it_uses() -> None:
    template = compile_template(
        '{ActionId}{join(items, i, "{i.sku}{Payout}{i}{i.qty}")}{ActionId}', "json"
    )
    assert template.parameters == {"ActionId", "Payout"}
    assert template.item_fields == {"sku", "qty"}
    assert template.uses_items
    assert not compile_template("{ActionId}").uses_items
    assert "json" in repr(template)


# -- escaping per context -------------------------------------------------------------
NASTY = "a b&c=d/é\"'<>\\\r\n\0\t%+~._-"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ("url", "a%20b%26c%3Dd%2F%C3%A9%22%27%3C%3E%5C%0D%0A%00%09%25%2B~._-"),
        ("query", "a%20b%26c%3Dd%2F%C3%A9%22%27%3C%3E%5C%0D%0A%00%09%25%2B~._-"),
        ("json", "a b&c=d/é\\\"'<>\\\\\\r\\n\\u0000\\t%+~._-"),
        ("xml", "a b&amp;c=d/é&quot;&apos;&lt;&gt;\\\r\n\ufffd\t%+~._-"),
        ("header", "a b&c=d/é\"'<>\\    %+~._-"),
        ("text", NASTY),
    ],
)
def test_each_context_escapes_values_and_never_literals(context: str, expected: str) -> None:
    template = compile_template('<&"{Note}"> ', context)
    assert template.render({"Note": NASTY}) == f'<&"{expected}"> '
    joined = compile_template('{join(items, i, "<{i.name}>", "&")}', context)
    assert joined.render({"items": [{"name": NASTY}]}) == f"<{expected}>"


@pytest.mark.parametrize("context", CONTEXTS)
def test_values_with_nothing_to_escape_are_unchanged(context: str) -> None:
    assert render("{Note}", {"Note": "Plain-text_1.0~"}, context) == "Plain-text_1.0~"
    assert render("{Note}", {"Note": 42}, context) == "42"
    assert render("{Note}", {"Note": -42}, context) == "-42"


def test_url_encoding_of_non_strings_and_of_lone_surrogates() -> None:
    assert render("{Note}", {"Note": 1e16}, "url") == "1e%2B16"
    assert render("{Note}", {"Note": ["a b", 1]}, "url") == "a%20b%2C1"
    assert render("{Note}", {"Note": "x\ud800y"}, "url") == "x%EF%BF%BDy"
    assert render("{EventDate}", {"EventDate": "2026-11-22T10:15:00+05:30"}, "url") == (
        "2026-11-22T10%3A15%3A00%2B05%3A30"
    )


def test_json_control_characters_are_escaped_like_json_dumps() -> None:
    assert render("{Note}", {"Note": "\x01\x1f\x7f\u2028"}, "json") == "\\u0001\\u001f\x7f\u2028"


# -- value formatting -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (34, "34.00"),
        (-5, "-5.00"),
        (0, "0.00"),
        ("2.925", "2.93"),
        ("-2.925", "-2.93"),
        ("2.924", "2.92"),
        ("0.005", "0.01"),
        ("-0.005", "-0.01"),
        ("-0.004", "-0.00"),
        ("12.5", "12.50"),
        ("12.50", "12.50"),
        ("012.50", "12.50"),
        ("+3", "3.00"),
        ("1e3", "1000.00"),
        (" 7.1 ", "7.10"),
        (0.1, "0.10"),
        (1.005, "1.01"),
        (2.675, "2.68"),
        (Decimal("9.995"), "10.00"),
        (Decimal("-1.125"), "-1.13"),
        (None, ""),
        (10**30, f"{10**30}.00"),
        ("12.", "12.00"),
        ("-0", "-0.00"),
        ("7", "7.00"),
        (12.25, "12.25"),
        (-0.0, "-0.00"),
        (1e-07, "0.00"),
        (1e16, "10000000000000000.00"),
    ],
)
def test_money_has_two_places_rounded_half_away_from_zero(value: Any, expected: str) -> None:
    assert render("{Payout}", {"Payout": value}) == expected
    items = {"items": [{"amt": value}]}
    assert render('{join(items, i, "{i.amt}")}', items, "url") == expected


@pytest.mark.parametrize(
    "value",
    ["twelve", "", "NaN", "Infinity", "1,50", True, float("nan"), float("inf"), [1], "1e99"],
)
def test_a_value_that_is_not_an_amount_is_a_render_error(value: Any) -> None:
    template = compile_template("p={Payout}")
    with pytest.raises(TemplateError) as caught:
        template.render({"Payout": value})
    assert (caught.value.code, caught.value.position, caught.value.parameter) == (
        "bad_value",
        2,
        "Payout",
    )
    assert "{Payout}" in str(caught.value)


def test_a_bad_item_value_names_the_field_and_the_item() -> None:
    template = compile_template('{join(items, i, "{i.amt}", ",")}')
    with pytest.raises(TemplateError) as caught:
        template.render({"items": [{"amt": 1}, {"amt": "x"}]})
    assert caught.value.code == "bad_value"
    assert "{i.amt}" in str(caught.value)
    assert str(caught.value).endswith("in item 2")


@pytest.mark.parametrize("items", ["abc", 5, {"sku": "x"}, [1], ["x"]])
def test_items_that_are_not_a_list_of_objects_are_a_render_error(items: Any) -> None:
    with pytest.raises(TemplateError) as caught:
        render('{join(items, i, "{i.sku}")}', {"items": items})
    assert caught.value.code == "bad_value"
    assert "items" in str(caught.value)


PST = timezone(timedelta(hours=-8))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T10:15:00-08:00", "2026-11-22T10:15:00-08:00"),
        ("2026-11-22T18:15:00Z", "2026-11-22T18:15:00+00:00"),
        ("2026-11-22T18:15:00", "2026-11-22T18:15:00+00:00"),
        ("2026-11-22T18:15:00.999999", "2026-11-22T18:15:00+00:00"),
        ("2026-11-22T18:15:00.5-08:00", "2026-11-22T18:15:00-08:00"),
        ("2026-11-22T18:15:00-00:00", "2026-11-22T18:15:00+00:00"),
        ("2026-11-22T18:15:00+00:00", "2026-11-22T18:15:00+00:00"),
        ("2026-11-22T18:15:00.250Z", "2026-11-22T18:15:00+00:00"),
        ("2026-11-22T18:15:00,5+02:00", "2026-11-22T18:15:00+02:00"),
        ("20261122T181500Z", "2026-11-22T18:15:00+00:00"),
        ("2026-11-22 18:15:00+01:00", "2026-11-22T18:15:00+01:00"),
        ("2026-11-22T18:15+01:00", "2026-11-22T18:15:00+01:00"),
        ("2026-11-22", "2026-11-22T00:00:00+00:00"),
        ("2026-W47-1T10:15:00-08:00", "2026-11-16T10:15:00-08:00"),
        (datetime(2026, 11, 22, 10, 15, 0, 7, tzinfo=PST), "2026-11-22T10:15:00-08:00"),
        (datetime(2026, 11, 22, 10, 15), "2026-11-22T10:15:00+00:00"),
        (datetime(2026, 11, 22, 10, 15, tzinfo=UTC), "2026-11-22T10:15:00+00:00"),
        (date(2026, 11, 22), "2026-11-22T00:00:00+00:00"),
        (None, ""),
    ],
)
def test_dates_are_iso_8601_with_seconds_and_an_offset(value: Any, expected: str) -> None:
    assert render("{EventDate}", {"EventDate": value}) == expected
    assert render("{EventDate}", {"EventDate": value}, "json") == expected


@pytest.mark.parametrize(
    "value",
    ["yesterday", "", "2026-13-01T00:00:00+00:00", "2026-11-22T25:00:00Z", 1732270500, True],
)
def test_a_value_that_is_not_a_date_is_a_render_error(value: Any) -> None:
    with pytest.raises(TemplateError) as caught:
        render("d={EventDate}", {"EventDate": value}, "url")
    assert (caught.value.code, caught.value.position) == ("bad_value", 2)
    assert "2026-11-22T10:15:00-08:00" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (4.5, "4.5"),
        ("007", "007"),
        (Decimal("1.10"), "1.10"),
        (["a", 1, True, None], "a,1,true,"),
        (("x", "y"), "x,y"),
        ({"k": [1, "é"]}, '{"k":[1,"é"]}'),
        (datetime(2026, 1, 2, 3, 4, 5, 6), "2026-01-02T03:04:05+00:00"),
    ],
)
def test_other_values(value: Any, expected: str) -> None:
    assert render("{Text1}", {"Text1": value}) == expected


def test_booleans_integers_and_lists_by_declared_type() -> None:
    params = {"iosAdTracking": False, "Numeric1": 7, "Numeric2": "3.5"}
    assert render("{iosAdTracking}|{Numeric1}|{Numeric2}", params) == "false|7|3.5"
    catalog = catalogue_for(EventKind.CATALOG_CHANGE)
    template = compile_template("{Bullets};{Labels}", "url", catalog)
    assert template.render({"Bullets": ["Water proof", "Light"], "Labels": "x"}) == (
        "Water%20proof%2CLight;x"
    )


def test_params_may_be_any_mapping_and_extra_names_are_ignored() -> None:
    from types import MappingProxyType

    params = MappingProxyType({"ActionId": "1", "NotAParameter": "x"})
    assert compile_template("{ActionId}").render(params) == "1"


# -- catalogues ---------------------------------------------------------------------
SPEC_ACTION_NAMES = [
    "CampaignId",
    "ActionTrackerId",
    "MediaPartnerId",
    "ActionId",
    "AdId",
    "Oid",
    "RefClickId",
    "SharedId",
    "SubId1",
    "SubId2",
    "SubId3",
    "CampaignName",
    "ActionTrackerName",
    "MediaPartnerName",
    "ActionType",
    "ReferringType",
    "Status",
    "StatusDetail",
    "CustomerStatus",
    "PromoCode",
    "Note",
    "Payout",
    "DeltaPayout",
    "IntendedPayout",
    "Amount",
    "DeltaAmount",
    "IntendedAmount",
    "OriginalAmount",
    "Money1",
    "Money2",
    "Money3",
    "Currency",
    "OriginalCurrency",
    "EventDate",
    "CreationDate",
    "LockingDate",
    "ClearedDate",
    "Date1",
    "Date2",
    "Date3",
    "ReferringDomain",
    "LandingPageUrl",
    "RefCustomerArea",
    "RefCustomerCity",
    "RefCustomerRegion",
    "RefCustomerCountry",
    "CustomerPostCode",
    "CustomerCity",
    "CustomerCountry",
    "CustomerRegion",
    "Text1",
    "Text2",
    "Text3",
    "Numeric1",
    "Numeric2",
    "Numeric3",
    "appPackage",
    "appName",
    "appVersion",
    "deviceOs",
    "deviceOsVersion",
    "deviceManuf",
    "deviceModel",
    "macAddress",
    "iosIfa",
    "iosAdTracking",
    "androidId",
    "odin1",
    "openUdid",
    "deviceId",
    "deviceIp",
    "UserAgent",
    "IpAddressPlain",
]
INQUIRY_NAMES = [
    "InquiryId",
    "MediaPartnerInquiryId",
    "InquiryType",
    "ResolutionStatus",
    "RejectReason",
    "CampaignId",
    "CampaignName",
    "MediaPartnerId",
    "ActionTrackerId",
    "ActionId",
    "Oid",
    "TransactionDate",
    "TransactionAmount",
    "Currency",
    "CustomerId",
    "InquiryDate",
    "ExpectedPayout",
    "ResolutionDeadlineDate",
    "ResolutionDate",
    "InquiryNotes",
]
CATALOG_NAMES = [
    "Operation",
    "CatalogId",
    "CatalogItemId",
    "CampaignId",
    "CampaignName",
    "Name",
    "Description",
    "Url",
    "ImageUrl",
    "CurrentPrice",
    "OriginalPrice",
    "Currency",
    "StockAvailability",
    "Gtin",
    "Manufacturer",
    "Category",
    "Multipack",
    "Bullets",
    "Labels",
]


def test_the_action_catalogue_is_the_spec_list_plus_media_source() -> None:
    action = catalogue_for(EventKind.ACTION)
    assert set(action.names) == {*SPEC_ACTION_NAMES, "MediaSourceId"}
    assert len(action.names) == len(SPEC_ACTION_NAMES) + 1
    types = {p.name: p.type for p in action.parameters}
    money = "Payout DeltaPayout IntendedPayout Amount DeltaAmount IntendedAmount OriginalAmount"
    assert {n for n, t in types.items() if t is ParamType.MONEY} == {
        *money.split(),
        "Money1",
        "Money2",
        "Money3",
    }
    dates = {"EventDate", "CreationDate", "LockingDate", "ClearedDate", "Date1", "Date2", "Date3"}
    assert {n for n, t in types.items() if t is ParamType.DATETIME} == dates
    assert types["iosAdTracking"] is ParamType.BOOLEAN
    assert types["Numeric1"] is ParamType.INTEGER


def test_item_fields() -> None:
    action = catalogue_for(EventKind.ACTION)
    assert action.field_names == ("sku", "name", "cat", "itemlist", "qty", "amt", "cartamt", "rbt")
    fields = {p.name: p.type for p in action.item_fields}
    assert fields["qty"] is ParamType.INTEGER
    assert {n for n, t in fields.items() if t is ParamType.MONEY} == {"amt", "cartamt", "rbt"}
    assert action.item_field("sku") == Parameter("sku", ParamType.TEXT, ITEM_ROWS[0][2])
    assert action.item_field("price") is None


def test_inquiry_and_catalog_catalogues() -> None:
    inquiry = catalogue_for(EventKind.ACTION_INQUIRY)
    assert list(inquiry.names) == INQUIRY_NAMES
    assert not inquiry.has_items
    assert inquiry.get("TransactionAmount").type is ParamType.MONEY  # type: ignore[union-attr]
    assert inquiry.get("ResolutionDeadlineDate").type is ParamType.DATETIME  # type: ignore[union-attr]
    catalog = catalogue_for(EventKind.CATALOG_CHANGE)
    assert list(catalog.names) == CATALOG_NAMES
    assert catalog.get("Bullets").type is ParamType.LIST  # type: ignore[union-attr]
    assert catalog.get("CurrentPrice").type is ParamType.MONEY  # type: ignore[union-attr]
    assert catalog.get("Payout") is None
    assert catalogue_for("catalog_change") is catalog  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(EventKind))
def test_descriptions_are_our_own_one_liners(kind: EventKind) -> None:
    catalogue = catalogue_for(kind)
    for param in (*catalogue.parameters, *catalogue.item_fields):
        assert param.description
        assert "\n" not in param.description
        assert param.description not in ("Supplied with the reported action", "Ad ID", "Device IP")
    assert len({p.name for p in catalogue.parameters}) == len(catalogue.parameters)


@pytest.mark.parametrize("kind", list(EventKind))
@pytest.mark.parametrize("context", CONTEXTS)
def test_every_parameter_renders_from_the_sample(kind: EventKind, context: str) -> None:
    catalogue = catalogue_for(kind)
    sample = sample_params(kind)
    assert set(catalogue.names) <= set(sample)
    for param in catalogue.parameters:
        rendered = compile_template(f"{{{param.name}}}", context, catalogue).render(sample)
        if sample[param.name] not in (None, ""):
            assert rendered, param.name
    if catalogue.has_items:
        fields = "|".join(f"{{i.{f}}}" for f in catalogue.field_names)
        text = f'{{join(items, i, "{{i}}:{fields}", ";")}}'
        rendered = compile_template(text, context, catalogue).render(sample)
        assert rendered.count(";") == len(sample["items"]) - 1 >= 1


def test_sample_params_are_realistic_and_fresh() -> None:
    action = sample_params(EventKind.ACTION)
    assert 2 <= len(action["items"]) <= 3
    action["items"].append({})
    action["items"][0]["sku"] = "changed"
    again = sample_params(EventKind.ACTION)
    assert len(again["items"]) in (2, 3)
    assert again["items"][0]["sku"] != "changed"
    catalog = sample_params(EventKind.CATALOG_CHANGE)
    catalog["Bullets"].append("x")
    assert "x" not in sample_params(EventKind.CATALOG_CHANGE)["Bullets"]
    url = compile_template("{Payout}&{EventDate}&{iosAdTracking}", "url")
    assert url.render(action) == "12.50&2026-11-22T10%3A15%3A00-08%3A00&true"


def test_str_subclasses_are_text() -> None:
    from enum import StrEnum

    class Amount(StrEnum):
        TEN = "10.5"

    class When(StrEnum):
        NOON = "2026-11-22T12:00:00Z"

    params = {"Payout": Amount.TEN, "EventDate": When.NOON, "Status": Amount.TEN}
    assert render("{Payout} {EventDate} {Status}", params) == (
        "10.50 2026-11-22T12:00:00+00:00 10.5"
    )
