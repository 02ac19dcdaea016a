"""The pure checks behind issue 9: text no database holds, catalogue types at ingest,
header rules, cursors, the size of a rendered request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postback.api.inputs import bad_text, field_name, may_hold_bad_text, request_problems
from postback.domain.records import (
    BodyFormat,
    Event,
    EventTopic,
    HttpMethod,
    PostbackConfig,
    PostbackKind,
)
from postback.domain.records import RenderedRequest as Req
from postback.errors import ValidationProblem
from postback.rules import event as events
from postback.rules import postback as rules
from postback.service.usecases import request_size
from postback.storage import rows
from postback.template import TemplateError, compile_template


def test_bad_text_is_found_at_any_depth_keys_included() -> None:
    body = {"a": ["ok", {"b\x00": 1, "c": "x\ud800"}], "d": float("nan"), "e": "\t\x7f fine"}
    found = {field_name(path): code for path, code, _ in bad_text(body)}
    assert found == {
        "a[1].b\\u0000": "invalid_text",
        "a[1].c": "invalid_text",
        "d": "invalid_number",
    }


def test_a_batch_names_the_event_by_its_index() -> None:
    [(path, _, message)] = bad_text([{"id": "ok"}, {"id": "x\x00"}])
    assert field_name(path) == "[1].id"
    assert "U+0000" in message


def test_a_deep_body_does_not_exhaust_the_stack() -> None:
    deep: Any = "\x00"
    for _ in range(100_000):
        deep = [deep]
    [(path, _, _)] = bad_text(deep)
    assert len(path) == 100_000


def test_request_problems_cover_path_query_and_body_and_stop_at_twenty() -> None:
    found = request_problems(
        {"postback_id": "p\x00"}, [("cursor", "c\x00"), ("x\x00", "1")], ["\x00"] * 100
    )
    assert [p["field"] for p in found[:3]] == ["postback_id", "cursor", "x\\u0000"]
    assert len(found) == 20
    assert request_problems({"id": "fine"}, [("q", "ok")], {"a": ["b", 1, None, 2.5]}) == []


def _event(**data: Any) -> Event:
    base = {"MediaPartnerId": "p", "CampaignId": "c", "ActionTrackerId": "t", "ActionId": "a"}
    return Event("e", EventTopic.ACTION_TRACKED, datetime(2026, 1, 1, tzinfo=UTC), base | data)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"Payout": "abc"}, "[0].data.Payout"),
        ({"Payout": True}, "[0].data.Payout"),
        ({"Payout": "1e999999"}, "[0].data.Payout"),  # parses, but cannot be rounded
        ({"Amount": "NaN"}, "[0].data.Amount"),
        ({"Date3": "2026-13-01"}, "[0].data.Date3"),
        ({"Numeric1": "1.5"}, "[0].data.Numeric1"),
        ({"Numeric1": False}, "[0].data.Numeric1"),
        ({"Numeric1": [1]}, "[0].data.Numeric1"),
        ({"iosAdTracking": 1}, "[0].data.iosAdTracking"),
        ({"items": [{"amt": "abc"}]}, "[0].data.items[0].amt"),
        ({"items": [{}, {"qty": 1.5}]}, "[0].data.items[1].qty"),
        ({"items": [None]}, "[0].data.items[0]"),
        ({"items": {"sku": "x"}}, "[0].data.items"),
    ],
)
def test_catalogue_types_are_checked_whatever_uses_them(data: dict[str, Any], field: str) -> None:
    assert field in [p["field"] for p in events.check(_event(**data), "[0]")]


def test_good_values_of_every_type_pass() -> None:
    event = _event(
        Payout=12,
        Amount=1.5,
        DeltaAmount="-3",
        Date1="2026-01-01",
        Date2="2026-01-01T10:00:00Z",
        Numeric1="7",
        Numeric2=-2,
        Numeric3=4.0,
        iosAdTracking="true",
        Custom={"any": ["thing"]},
        items=[{"sku": "s", "qty": 2, "amt": "9.99", "cartamt": None, "other": [1]}],
    )
    assert events.check(event, "[0]") == []


def test_lists_are_checked_in_catalog_changes() -> None:
    base = {"CampaignId": "c", "CatalogItemId": "i", "Operation": "UPDATE"}
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ok = Event("e", EventTopic.CATALOG_ITEM_CHANGED, at, base | {"Bullets": ["a", 1]})
    assert events.check(ok, "") == []
    bad = Event("e", EventTopic.CATALOG_ITEM_CHANGED, at, base | {"Labels": [{"a": 1}]})
    assert [p["field"] for p in events.check(bad, "")] == ["data.Labels"]


def test_items_are_capped_and_problems_are_bounded() -> None:
    problems = events.check(_event(items=[{}] * 11), "[0]", max_items=10)
    assert [p["code"] for p in problems] == ["too_many"]
    assert len(events.check(_event(items=[{"amt": "x", "qty": "y"}] * 1000), "[0]")) == 50


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("X-A", "v {ActionId}", True),
        ("X-A\n", "v", False),
        ("X-A", "a\tb", False),
        ("X-A", "a\x00b", False),
        ("X-A", "a\x1fb", False),
        ("X-A", "a\x7fb", False),
        ("X-A", "é ünïcode", True),
    ],
)
def test_header_rules(name: str, value: str, ok: bool) -> None:
    config = PostbackConfig(
        PostbackKind.ACTION_LIFECYCLE, "https://p.example/", headers=((name, value),)
    )
    assert (rules.check_shape(config) == []) is ok


def test_a_control_character_in_the_url_is_a_problem() -> None:
    config = PostbackConfig(PostbackKind.ACTION_LIFECYCLE, "https://p.example/\x7f")
    assert [p["field"] for p in rules.check_shape(config)] == ["url"]


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59+00:00"]
)
def test_a_cursor_outside_the_years_a_database_holds_is_refused(stamp: str) -> None:
    cursor = rows.encode_cursor(datetime.fromisoformat(stamp), 1)
    with pytest.raises(ValidationProblem):
        rows.decode_cursor(cursor)


def test_a_cursor_round_trips() -> None:
    moment = datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert rows.decode_cursor(rows.encode_cursor(moment, 42)) == (moment, 42)


def test_request_size_counts_utf8_bytes_of_url_headers_and_body() -> None:
    request = Req(HttpMethod.POST, "https://p.example/é", (("X-A", "ü"),), "€")
    assert request_size(request) == len("https://p.example/") + 2 + 3 + 2 + 3
    assert request_size(Req(HttpMethod.GET, "http://a/", (), None)) == 9


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(st.characters(codec=None)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(codec=None), max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from(["ascii", "utf-8", "utf-16", "utf-32"]))
def test_the_fast_path_never_skips_a_body_with_bad_text(value: Any, encoding: str) -> None:
    """Whatever a producer's JSON writer and encoding, a body bad_text would find
    something in is always walked."""
    if encoding == "ascii":
        raw = json.dumps(value).encode()
    else:
        raw = json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass")
    if any(bad_text(json.loads(raw))):
        assert may_hold_bad_text(raw)


def test_a_plain_body_skips_the_walk() -> None:
    assert not may_hold_bad_text(json.dumps({"id": "e1", "data": {"a": "é ü 1.5"}}).encode())
    assert may_hold_bad_text(b'{"a": "\\u0000"}')
    assert may_hold_bad_text('{"a": "\x00"}'.encode("utf-16"))


def test_an_xml_body_with_a_character_xml_forbids_is_a_problem() -> None:
    def body(text: str) -> list[str]:
        config = PostbackConfig(
            PostbackKind.ACTION_LIFECYCLE,
            "https://p.example/",
            method=HttpMethod.POST,
            body=text,
            body_format=BodyFormat.XML,
        )
        return [str(p["field"]) + ":" + str(p["position"]) for p in rules.check_shape(config)]

    assert body("<a>\t{ActionId}\n</a>") == []
    assert body("<a>x\x01{ActionId}</a>") == ["body:4"]


BIG = "x" * (1024 * 1024)


@pytest.mark.parametrize(
    ("template", "params"),
    [
        ("{ActionId}" * 20, {"ActionId": BIG}),  # a value repeated
        ('{join(items,i,"{ActionId}")}', {"ActionId": BIG, "items": [{}] * 20}),  # per item
        ('{join(items,i,"{i.name}{i.name}")}', {"items": [{"name": BIG}] * 10}),
        ('{join(items,i,"' + "{ActionId}" * 20 + '")}', {"ActionId": BIG, "items": [{}]}),
    ],
    ids=["repeated", "join_outer", "join_field", "join_format"],
)
def test_a_render_that_would_be_huge_stops_before_building_it(
    template: str, params: dict[str, Any]
) -> None:
    compiled = compile_template(template, "text")
    with pytest.raises(TemplateError) as caught:
        compiled.render(params)
    assert caught.value.code == "too_large"
    assert compiled.render({**params, "ActionId": "a", "items": [{"name": "b"}]})
