"""Template functions (functions.py): cases beyond the shared vectors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from postback.domain.records import EventKind
from postback.template import TemplateError, catalogue_for, compile_template, literal_text
from postback.template.functions import FUNCTIONS
from postback.template.listing import function_rows


def render(text: str, params: dict[str, Any], context: str = "text") -> str:
    return compile_template(text, context).render(params)


def error(text: str, context: str = "text", kind: EventKind = EventKind.ACTION) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        compile_template(text, context, catalogue_for(kind))
    return caught.value


def render_error(text: str, params: dict[str, Any]) -> TemplateError:
    template = compile_template(text, "url")
    with pytest.raises(TemplateError) as caught:
        template.render(params)
    return caught.value


# -- the table ------------------------------------------------------------------------
ACTION_EXAMPLES = {
    "date": ('{EventDate|date("%Y-%m-%d %H:%M", "Europe/Berlin")}', "2026-11-22 19:15"),
    "unix": ("{EventDate|unix}", "1795371300"),
    "unix_ms": ("{EventDate|unix_ms}", "1795371300000"),
    "number": ("{Payout|number(0)}", "13"),
    "cents": ("{Payout|cents}", "1250"),
    "bool": ('{iosAdTracking|bool("1", "0")}', "1"),
    "default": ('{SubId3|default("none")}', "none"),
    "upper": ("{Status|upper}", "PENDING"),
    "lower": ("{Status|lower}", "pending"),
    "trim": ("{Note|trim}", "Gift wrap requested"),
    "truncate": ("{CampaignName|truncate(7)}", "Outdoor"),
    "md5": ("{Status|md5}", "c69f06e1a9b016d133907b4e5f5864d2"),
    "sha1": ("{Status|sha1}", "0a7b38b716933a39c0bca66f229cd6d52f0c1271"),
    "sha256": (
        "{Text1|trim|lower|sha256}",
        "fbf608453d1296a33d5d403ec63aed5ed2c2d88b7939dcaaa8b599ba4c70e642",
    ),
    "base64": ("{Status|base64}", "UEVORElORw=="),
    "map": ('{Status|map("PENDING", "0", "APPROVED", "1", "2")}', "0"),
    "raw": ("{Note|raw}", "Gift wrap requested"),
}


def test_the_listed_examples_render_what_they_should() -> None:
    rows = {row.name: (row.example, row.result) for row in function_rows(EventKind.ACTION)}
    assert rows == ACTION_EXAMPLES


def test_examples_of_other_kinds_use_their_own_parameters() -> None:
    rows = {row.name: row for row in function_rows(EventKind.CATALOG_CHANGE)}
    assert (rows["cents"].example, rows["cents"].result) == ("{CurrentPrice|cents}", "8990")
    assert (rows["upper"].example, rows["upper"].result) == ("{Operation|upper}", "UPDATE")
    assert rows["number"].example == "{CurrentPrice|number(0)}"  # Multipack comes later
    assert (rows["bool"].example, rows["bool"].result) == (None, None)  # no boolean there
    assert (rows["unix"].example, rows["bool"].takes) == (None, "boolean")
    inquiry = {row.name: row for row in function_rows(EventKind.ACTION_INQUIRY)}
    assert inquiry["unix"].example == "{TransactionDate|unix}"


def test_the_table_has_the_spec_functions_in_order() -> None:
    assert list(FUNCTIONS) == [
        "date", "unix", "unix_ms", "number", "cents", "bool", "default", "upper", "lower",
        "trim", "truncate", "md5", "sha1", "sha256", "base64", "map", "raw",
    ]  # fmt: skip


# -- meaning --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "params", "expected"),
    [
        ("{EventDate|unix}", {"EventDate": "1969-12-31T23:59:59.5Z"}, "-1"),
        ("{EventDate|unix_ms}", {"EventDate": "1969-12-31T23:59:59.5Z"}, "-500"),
        ("{EventDate|unix}", {"EventDate": "1970-01-01T00:00:00"}, "0"),  # no offset: UTC
        ("{EventDate|unix}", {"EventDate": datetime(1970, 1, 2, tzinfo=UTC)}, "86400"),
        ("{EventDate|unix}", {"EventDate": date(1970, 1, 2)}, "86400"),
        ("{Payout|number(2)}", {"Payout": "-0.004"}, "-0.00"),
        ("{Payout|number(0)}", {"Payout": "2.495"}, "2"),  # the value, not its "2.50"
        ("{Payout|number(6)}", {"Payout": 1.005}, "1.005000"),
        ("{Payout|cents}", {"Payout": 1.005}, "101"),  # the decimal written, not the binary
        ("{Payout|cents}", {"Payout": Decimal("2.675")}, "268"),
        ("{Numeric1|number(1)}", {"Numeric1": "-12"}, "-12.0"),  # an integer as a string
        ("{iosAdTracking|bool(\"y\", \"n\")}", {"iosAdTracking": "false"}, "n"),
        ("{Status|map(\"A\", \"1\", \"A\", \"2\")}", {"Status": "A"}, "1"),  # first K wins
        ("{Status|map(\"a\", \"1\")}", {"Status": "A"}, "A"),  # code point for code point
        ("{Note|upper}", {"Note": "straße"}, "STRASSE"),
        ("{Note|trim}", {"Note": "\u3000x\u00a0"}, "x"),
        ("{Note|truncate(0)}", {"Note": "abc"}, ""),
        ("{Note|upper()}", {"Note": "a"}, "A"),  # f() is f
        ("{Note|upper( )}", {"Note": "a"}, "A"),
        ("{Note|map(\n \"a\" ,\n\"b\"\n)}", {"Note": "a"}, "b"),  # spaces around arguments
        ("{Note|default(\"x\")}", {"Note": 0}, "0"),  # 0 is not empty
        ("{Payout|upper}", {"Payout": "3"}, "3.00"),  # text functions format first
        ("{EventDate|lower}", {"EventDate": "2026-01-02T03:04:05Z"}, "2026-01-02t03:04:05+00:00"),
        ("{iosAdTracking|upper}", {"iosAdTracking": True}, "TRUE"),
        ("{Payout|cents|upper}", {"Payout": "1"}, "100"),
        ("{Note|default(\"a\\\"b\\\\c\\d\")}", {}, 'a"b\\c\\d'),  # only \" and \\ escape
        ("{EventDate|date(\"%Y\", \"UTC\")|default(\"-\")}", {}, "-"),
        ("{EventDate|date(\"{%H}\")}", {"EventDate": "2026-01-02T03:04:05Z"}, "{03}"),
        ("{EventDate|date(\"%z\", \"America/New_York\")}", {"EventDate": "2026-07-01T12:00Z"},
         "-0400"),
        ("{EventDate|date(\"%Y-%m-%d\")}", {"EventDate": "0099-01-02T00:00:00Z"}, "0099-01-02"),
        ("{EventDate|date(\"%S\")}", {"EventDate": "2026-01-02T03:04:05.999Z"}, "05"),
        ("{Bullets|upper}", {"Bullets": ["a", "b"]}, "A,B"),
        ("{EventDate|date(\"x%%\")}", {"EventDate": "2026-01-02T03:04:05Z"}, "x%"),
        ("{EventDate|date(\"%%%H%%\")}", {"EventDate": "2026-01-02T03:04:05Z"}, "%03%"),
        ("{EventDate|date(\"%M/%y\")}", {"EventDate": "2026-01-02T03:04:05Z"}, "04/26"),
    ],
)  # fmt: skip
def test_meaning(template: str, params: dict[str, Any], expected: str) -> None:
    kind = EventKind.CATALOG_CHANGE if "Bullets" in template else EventKind.ACTION
    assert compile_template(template, "text", catalogue_for(kind)).render(params) == expected


def test_functions_on_an_order_level_parameter_inside_a_format() -> None:
    template = '{join(items, i, "{i.sku}-{Status|lower}-{Payout|cents}", ",")}'
    params = {"Status": "OK", "Payout": "1.5", "items": [{"sku": "a"}, {"sku": "b"}]}
    assert render(template, params) == "a-ok-150,b-ok-150"


def test_escaped_brace_in_a_format_does_not_close_a_chain() -> None:
    found = error('{join(items, i, "{i.sku|upper\\}")}')
    assert (found.code, found.position) == ("malformed_function", 17)


def test_raw_keeps_headers_and_xml_well_formed() -> None:
    header = compile_template("v={Note|raw}", "header").render({"Note": "a\tb\x7fc"})
    assert header == "v=a b c"
    xml = compile_template("<n>{Note|raw}</n>", "xml").render({"Note": "<b>\x01\ud800</b>"})
    assert xml == "<n><b>\ufffd\ufffd</b></n>"


def test_hashes_survive_a_lone_surrogate() -> None:
    assert len(render("{Note|sha256}", {"Note": "a\ud800"})) == 64


# -- errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "code", "position"),
    [
        ('{Note|map("a",)}', "malformed_function", 0),
        ("{Note|truncate(1.5)}", "malformed_function", 0),
        ("{Note|map(a, b)}", "malformed_function", 0),
        ("{Note|truncate(-)}", "malformed_function", 0),
        ("{Note||upper}", "malformed_function", 0),
        ("{Note|upper", "malformed_function", 0),
        ("{Note|upper(}", "malformed_function", 0),
        ("{Note|upper)}", "malformed_function", 0),
        ("x{i.sku|upper}", "unknown_loop_variable", 1),
        ("{Nope|nope}", "unknown_parameter", 0),  # the name first
        ("{Note|nope(1.5}", "malformed_function", 0),  # syntax before the function name
        ("{Note|nope|date(1)}", "unknown_function", 0),
        ("{Note|date(1)|nope}", "bad_arguments", 0),  # left to right: date's arguments
        ("{Note|date(\"%Y\")}", "type_mismatch", 0),
        ("{Note|truncate(\"1\")}", "bad_arguments", 0),
        ("{Note|truncate(-1)}", "bad_arguments", 0),
        ("{Note|default(1)}", "bad_arguments", 0),
        ("{Note|default}", "bad_arguments", 0),
        ("{Note|map(\"a\")}", "bad_arguments", 0),
        ("{Note|upper(1)}", "bad_arguments", 0),
        ("{Payout|number(-1)}", "bad_arguments", 0),
        ("{EventDate|date(\"%Y\", \"utc\")}", "bad_arguments", 0),  # zones are case-sensitive
        ("{EventDate|date(\"%Y\", \"../etc/passwd\")}", "bad_arguments", 0),
        ("{EventDate|date(\"%Y\", \"America\")}", "bad_arguments", 0),
        ("{EventDate|date(\"100%\")}", "bad_arguments", 0),
        ("{EventDate|date(\"%Y\", \"UTC\", \"x\")}", "bad_arguments", 0),
        ("{EventDate|unix|unix}", "type_mismatch", 0),
        ("{EventDate|unix|cents}", "type_mismatch", 0),
        ("{Payout|bool(\"1\", \"0\")}", "type_mismatch", 0),
        ("{iosAdTracking|cents}", "type_mismatch", 0),
        ("{Numeric1|cents}", "type_mismatch", 0),
        ('{join(items, i, "{i|cents}")}', "type_mismatch", 17),
        ('{join(items, i, "{i|unixx}")}', "unknown_function", 17),
    ],
)  # fmt: skip
def test_compile_errors(template: str, code: str, position: int) -> None:
    found = error(template)
    assert (found.code, found.position) == (code, position)


def test_messages_say_what_to_write() -> None:
    assert "did you mean sha256 or sha1?" in str(error("{Note|sha265}"))
    assert "did you mean unix or unix_ms?" in str(error("{EventDate|unixx}"))
    assert "the functions are date, unix" in str(error("{Note|zzzzzzzz}"))
    assert "cents needs money, but {Status} gives text" in str(error("{Status|cents}"))
    assert "unix needs date/time, but date gives text" in str(error('{EventDate|date("%Y")|unix}'))
    assert "'%I'" in str(error('{EventDate|date("%I")}'))
    assert "America/Springfield" in str(error('{EventDate|date("%Y", "America/Springfield")}'))
    assert "number is written number(N), not with no arguments" in str(error("{Payout|number}"))
    assert "raw can only be the last" in str(error("{Note|raw|upper}"))
    assert "join takes no functions" in str(error('{join(items, i, "x")|upper}'))


def test_join_type_errors_come_before_names() -> None:
    inquiry = error('{Nope} {join(items, i, "x")}', kind=EventKind.ACTION_INQUIRY)
    assert (inquiry.code, inquiry.position) == ("malformed_join", 7)


@pytest.mark.parametrize(
    ("template", "params"),
    [
        ("{Payout|cents}", {"Payout": ""}),  # empty is not missing in a money field
        ("{EventDate|unix}", {"EventDate": ""}),
        ("{Payout|cents}", {"Payout": True}),
        ("{Payout|cents}", {"Payout": "NaN"}),
        ("{Payout|cents}", {"Payout": "1e99999"}),
        ("{Numeric1|number(0)}", {"Numeric1": 1.5}),
        ("{Numeric1|number(0)}", {"Numeric1": "1.0"}),
        ("{Numeric1|number(0)}", {"Numeric1": True}),
        ("{iosAdTracking|bool(\"1\", \"0\")}", {"iosAdTracking": 1}),
        ("{iosAdTracking|bool(\"1\", \"0\")}", {"iosAdTracking": "yes"}),
        ("{Payout|upper}", {"Payout": "x"}),  # a text function formats a money first
    ],
)  # fmt: skip
def test_render_errors_are_bad_value_naming_the_parameter(
    template: str, params: dict[str, Any]
) -> None:
    found = render_error(template, params)
    assert found.code == "bad_value"
    assert found.parameter == next(iter(params))


def test_a_bad_value_in_an_item_names_the_item() -> None:
    found = render_error('{join(items, i, "{i.amt|cents}")}', {"items": [{}, {"amt": "x"}]})
    assert found.code == "bad_value"
    assert "in item 2" in str(found)


def test_literal_text_replaces_whole_expressions() -> None:
    text = 'https://p.example/?d={EventDate|date("%Y %m")}{join(items, i, "{i.sku} x", " & ")}\\{'
    assert literal_text(text) == "https://p.example/?d=xx{"
    assert literal_text("{ Status|upper} {Status}", "_") == "{ Status|upper} _"
    with pytest.raises(TemplateError):
        literal_text("{Status|upper }")
