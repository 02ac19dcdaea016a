"""Properties of the template language over generated templates and values (hypothesis)."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postback.domain.records import EventKind
from postback.template import TemplateError, compile_template, sample_params
from postback.template.escaping import CONTEXTS

# Pieces that make the lexer and parser take every path: braces, escapes, joins, strings.
FRAGMENTS = [
    "{", "}", "\\", '"', ",", "(", ")", " ", "\n", ".", "x", "i", "items", "join", "{join(",
    "{join (", ")}", "CampaignId", "Payout", "i.sku", "{i}", "{i.sku}", "{CampaignId}",
    '\\"', "\\{", "\\}", "\\\\", '"{i.sku}"', '"&"', "products", "%", "%s",
    # functions
    "|", "{Status|", "{EventDate|", "{Payout|", "{i|", "{i.amt|", "upper", "unix", "cents",
    "date(", '"%Y"', '"%q"', '"UTC"', '"Nowhere/Zone"', "map(", '"a"', "1", "-1", "7", "1.5",
    "raw", "raw|", "number(", "nope", "()", "|default(",
]  # fmt: skip
template_like = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)
contexts = st.sampled_from(CONTEXTS)
SAMPLE = sample_params(EventKind.ACTION)


@settings(max_examples=400)
@given(text=st.one_of(st.text(), template_like), context=contexts)
def test_compiling_any_text_raises_only_template_errors(text: str, context: str) -> None:
    try:
        template = compile_template(text, context)
    except TemplateError as exc:
        assert exc.code in {
            "unknown_parameter",
            "unknown_item_field",
            "unknown_loop_variable",
            "malformed_join",
            "malformed_function",
            "unknown_function",
            "bad_arguments",
            "type_mismatch",
        }
        assert exc.position is not None
        assert 0 <= exc.position < len(text)
        assert text[exc.position] == "{"
        assert str(exc)
        return
    assert isinstance(template.render(SAMPLE), str)


@given(value=st.text(), context=st.sampled_from(["url", "query"]))
def test_url_values_percent_decode_to_the_original(value: str, context: str) -> None:
    template = compile_template("https://p.example/cb?n={Note}&x=1", context)
    rendered = template.render({"Note": value})
    encoded = rendered.removeprefix("https://p.example/cb?n=").removesuffix("&x=1")
    assert unquote(encoded, errors="strict") == value
    assert all(c.isascii() and c not in " &=?#/+" for c in encoded)
    joined = compile_template('{join(items, i, "{i.name}", "&")}', context)
    assert unquote(joined.render({"items": [{"name": value}]}), errors="strict") == value


JSON_BODY = (
    '{ "note": "{Note}", "city": "{CustomerCity}", "payout": {Payout}, '
    '"items": [{join(items, i, "\\{\\"sku\\": \\"{i.sku}\\", \\"n\\": {i}\\}", ", ")}] }'
)


@given(note=st.text(), city=st.text(), skus=st.lists(st.text(), max_size=4))
def test_a_json_body_parses_back_to_the_values(note: str, city: str, skus: list[str]) -> None:
    params: dict[str, Any] = {
        "Note": note,
        "CustomerCity": city,
        "Payout": 3,
        "items": [{"sku": s} for s in skus],
    }
    parsed = json.loads(compile_template(JSON_BODY, "json").render(params))
    expected_items = [{"sku": s, "n": n} for n, s in enumerate(skus, 1)]
    assert parsed == {"note": note, "city": city, "payout": 3.0, "items": expected_items}


def _is_xml_char(char: str) -> bool:
    # XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    point = ord(char)
    return (
        char in "\t\n\r" or 0x20 <= point <= 0xD7FF or 0xE000 <= point <= 0xFFFD or point >= 0x10000
    )


def _xml_char(blocked: str) -> st.SearchStrategy[str]:
    chars = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters=blocked)
    return chars.filter(_is_xml_char)


# Parsers normalise line ends in text and all whitespace in attributes: leave those out.
xml_text = st.text(_xml_char("\r"))
xml_attribute = st.text(_xml_char("\t\n\r"))
XML_BODY = (
    '<postback status="{Status}"><note>{Note}</note>'
    '<items>{join(items, i, "<item n=\\"{i}\\" sku=\\"{i.sku}\\">{i.name}</item>")}</items>'
    "</postback>"
)


@given(status=xml_attribute, note=xml_text, names=st.lists(st.tuples(xml_attribute, xml_text)))
def test_an_xml_body_parses_back_to_the_values(
    status: str, note: str, names: list[tuple[str, str]]
) -> None:
    params = {
        "Status": status,
        "Note": note,
        "items": [{"sku": sku, "name": name} for sku, name in names],
    }
    root = ET.fromstring(compile_template(XML_BODY, "xml").render(params))
    assert root.get("status") == status
    assert (root.findtext("note") or "") == note
    items = root.findall("items/item")
    assert [(i.get("n"), i.get("sku"), i.text or "") for i in items] == [
        (str(n), sku, name) for n, (sku, name) in enumerate(names, 1)
    ]


@given(value=st.text())
def test_header_values_never_carry_line_breaks(value: str) -> None:
    rendered = compile_template("Bearer {SharedId}", "header").render({"SharedId": value})
    assert not any(c in rendered for c in "\r\n\0")
    assert len(rendered) == len("Bearer ") + len(value)


# -- the fast paths agree with plain stdlib formatting ----------------------------------
CENT = Decimal("0.01")
MONEY = compile_template("{Payout}", "text")
DATE = compile_template("{EventDate}", "url")
amounts = st.one_of(
    st.integers(-(10**15), 10**15),
    st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
    st.decimals(min_value=-(10**15), max_value=10**15, allow_nan=False, places=4),
    st.from_regex(r"-?[0-9]{1,9}(\.[0-9]{0,4})?", fullmatch=True),
)


@given(amount=amounts)
def test_money_matches_decimal_quantize(amount: Any) -> None:
    text = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    expected = str(text.quantize(CENT, rounding=ROUND_HALF_UP))
    assert MONEY.render({"Payout": amount}) == expected
    assert MONEY.render({"Payout": str(amount)}) == expected


OFFSETS = [UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30)), None]


@given(moment=st.datetimes(timezones=st.sampled_from(OFFSETS)), shape=st.integers(0, 3))
def test_dates_match_fromisoformat_and_isoformat(moment: datetime, shape: int) -> None:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    expected = quote(aware.replace(microsecond=0).isoformat(), safe="")
    text = [
        moment.isoformat(),
        moment.isoformat(timespec="seconds"),
        moment.isoformat().replace("+00:00", "Z"),
        moment.isoformat(sep=" ", timespec="milliseconds"),
    ][shape]
    assert DATE.render({"EventDate": text}) == expected
    assert DATE.render({"EventDate": moment}) == expected


# -- functions ----------------------------------------------------------------------------
SHA = compile_template("{Note|sha256}", "text")
CENTS = compile_template("{Payout|cents}", "text")
UNIX = compile_template("{EventDate|unix}/{EventDate|unix_ms}", "text")
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe"]


@given(value=st.text())
def test_sha256_is_the_digest_of_the_utf8_text(value: str) -> None:
    expected = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    assert SHA.render({"Note": value}) == (expected if value else "")


@given(value=st.text(), context=contexts)
def test_text_functions_then_escaping_equal_escaping_the_function_result(
    value: str, context: str
) -> None:
    chained = compile_template("{Note|trim|upper|truncate(5)}", context)
    plain = compile_template("{Note}", context)
    assert chained.render({"Note": value}) == plain.render({"Note": value.strip().upper()[:5]})


@given(amount=amounts)
def test_cents_is_the_amount_rounded_to_cents_times_100(amount: Any) -> None:
    text = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    expected = int(text.quantize(CENT, rounding=ROUND_HALF_UP) * 100)
    assert CENTS.render({"Payout": amount}) == str(expected)


@given(moment=st.datetimes(timezones=st.sampled_from(OFFSETS)))
def test_unix_counts_whole_units_toward_the_past(moment: datetime) -> None:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    micros = (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert UNIX.render({"EventDate": moment.isoformat()}) == f"{micros // 10**6}/{micros // 1000}"


@given(
    # From 1950: older offsets had seconds (Asia/Kolkata +05:21:10), which %z writes out.
    moment=st.datetimes(min_value=datetime(1950, 1, 1), timezones=st.sampled_from(OFFSETS)),
    zone=st.sampled_from(ZONES),
)
def test_date_in_a_zone_matches_strftime(moment: datetime, zone: str) -> None:
    pattern = "%Y-%m-%d %H:%M:%S %y %j %z %%"
    template = compile_template(f'{{EventDate|date("{pattern}", "{zone}")}}', "text")
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    expected = aware.astimezone(ZoneInfo(zone)).strftime(pattern)
    assert template.render({"EventDate": moment}) == expected


def test_a_date_moved_out_of_range_by_its_zone_is_a_bad_value() -> None:
    template = compile_template('{EventDate|date("%Y", "Pacific/Kiritimati")}', "text")
    with pytest.raises(TemplateError) as caught:
        template.render({"EventDate": "9999-12-31T23:00:00+00:00"})
    assert caught.value.code == "bad_value"


EVERY_FUNCTION = compile_template(
    '{EventDate|date("%Y%j%z", "Asia/Tokyo")}{EventDate|unix}{EventDate|unix_ms}'
    "{Payout|number(6)}{Numeric1|number(0)}{Payout|cents|number(1)}"
    '{iosAdTracking|bool("y", "n")}{Note|default("d")|upper|lower|trim|truncate(3)}'
    '{Note|md5}{Note|sha1}{Note|base64}{Note|map("a", "b", "c")}{Note|raw}'
    '{join(items, i, "{i|number(2)}{i.qty|number(1)}{i.amt|cents}{i.sku|sha256}")}',
    "url",
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
moments = st.one_of(json_values, st.datetimes(timezones=st.sampled_from(OFFSETS)).map(str))


@given(
    date=moments,
    payout=json_values,
    numeric=json_values,
    flag=json_values,
    note=json_values,
    items=st.lists(st.dictionaries(st.sampled_from(["qty", "amt", "sku"]), json_values)),
)
def test_rendering_any_values_raises_only_bad_value(
    date: Any, payout: Any, numeric: Any, flag: Any, note: Any, items: list[dict[str, Any]]
) -> None:
    params = {
        "EventDate": date,
        "Payout": payout,
        "Numeric1": numeric,
        "iosAdTracking": flag,
        "Note": note,
        "items": items,
    }
    try:
        assert isinstance(EVERY_FUNCTION.render(params), str)
    except TemplateError as exc:
        assert exc.code == "bad_value"


@given(amount=amounts, places=st.integers(0, 6))
def test_number_matches_decimal_quantize(amount: Any, places: int) -> None:
    text = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    expected = str(text.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    template = compile_template(f"{{Payout|number({places})}}", "text")
    assert template.render({"Payout": amount}) == expected
    assert template.render({"Payout": str(amount)}) == expected
