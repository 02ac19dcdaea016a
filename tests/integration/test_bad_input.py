"""Bad input is a 4xx naming the field, never a 5xx, and stores nothing (issue 9).

Text no database can hold (U+0000, lone surrogates) is sent to every route that takes a
string, in the body at any depth, in path and in query parameters, on SQLite and on
PostgreSQL; catalogue-typed values are judged by the catalogue alone; a rendered
request over the size limit is stored failed instead of refusing the event.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from postback.api.app import create_app
from postback.config import Settings
from postback.domain.records import Event, EventTopic
from postback.storage.sql import metadata
from tests.apiclient import ADMIN, LIFECYCLE, Api, World, running_api, serving

NUL, SURROGATE = "a\x00b", "a\ud800b"
BAD_TEXTS = pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])


async def counts(api: Api) -> dict[str, int]:
    """Rows in every table, read straight from the database."""
    engine = api.app.state.service.store.engine
    async with engine.connect() as conn:
        return {
            t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in metadata.sorted_tables
        }


async def call(
    api: Api, method: str, path: str, key: str | None = None, body: Any = None, **kw: Any
) -> Any:
    if body is not None:
        kw["content"] = json.dumps(body).encode()  # ensure_ascii: surrogates as \ud800
        kw["headers"] = {"Content-Type": "application/json", **api._auth(key)}
        return await api.client.request(method, path, **kw)
    return await api.call(method, path, key, **kw)


def _set(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with ``dotted`` (``a.b.0.c``) set to ``value``."""
    out = json.loads(json.dumps(body))
    *parents, last = dotted.split(".")
    node: Any = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def _postback(world: World) -> dict[str, Any]:
    return {
        **LIFECYCLE,
        "method": "POST",
        "body_format": "json",
        "body": '{"a": "{ActionId}"}',
        "headers": {"X-Id": "{ActionId}"},
        "name": "n",
        "success_response": "OK",
        "error_response": "ERR",
    }


# (method, path template, body builder, fields) -- every route that takes a string in
# its body; the field is set to the bad text and must be the one named in the 422.
BODY_CASES: list[tuple[str, str, str, list[str]]] = [
    ("POST", "/v1/accounts", "account", ["name"]),
    ("POST", "/v1/programs", "program", ["name", "brand_id"]),
    ("POST", "/v1/programs/{program}/event-types", "event_type", ["name"]),
    ("POST", "/v1/contracts", "contract", ["partner_id", "program_id", "event_type_ids.0"]),
    ("POST", "/v1/media-sources", "media_source", ["name", "brand_id"]),
    (
        "POST",
        "/v1/postbacks",
        "postback",
        [
            "url",
            "body",
            "headers.X-Id",
            "name",
            "success_response",
            "error_response",
            "owner_id",
            "partner_id",
            "event_type_id",
            "media_source_id",
            "in_app_event",
        ],
    ),
    ("PATCH", "/v1/postbacks/{postback}", "patch", ["url", "body", "headers.X-Id", "name"]),
    (
        "POST",
        "/v1/postbacks/{postback}/preview",
        "preview",
        ["event_id", "event.id", "event.data.ActionId", "event.data.items.0.sku"],
    ),
    ("POST", "/v1/postbacks/{postback}/test", "preview", ["event_id", "event.data.Payout"]),
    (
        "POST",
        "/v1/events",
        "event",
        ["id", "type", "data.ActionId", "data.Custom", "data.items.0.sku", "data.items.0.x"],
    ),
    ("POST", "/v1/events", "batch", ["1.id", "1.data.ActionId", "0.data.items.0.name"]),
    ("POST", "/v1/deliveries/replay", "replay", ["postback_id", "action_id"]),
]


def _field(path: str, builder: str) -> str:
    """The name the API gives a dotted test path: list indexes as ``[n]``."""
    parts = path.split(".")
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else ("." if out else "") + part
    return out


async def _bodies(api: Api, world: World) -> tuple[dict[str, Any], dict[str, str]]:
    postback = await api.ok("POST", "/v1/postbacks", world.partner["api_key"], json=LIFECYCLE)
    event = world.action("e-ok", items=[{"sku": "S1", "name": "n", "amt": "1.00"}])
    bodies = {
        "account": {"name": "x", "kind": "brand"},
        "program": {"name": "x", "brand_id": world.brand["id"]},
        "event_type": {"name": "x"},
        "contract": {
            "partner_id": world.partner["id"],
            "program_id": world.program["id"],
            "event_type_ids": [world.event_type["id"]],
        },
        "media_source": {"name": "x", "brand_id": world.brand["id"]},
        "postback": {**_postback(world), "owner_id": world.partner["id"]},
        "patch": {"url": LIFECYCLE["url"], "body": None, "headers": {"X-Id": "1"}, "name": "x"},
        "preview": {"event": event, "event_id": None},
        "event": event,
        "batch": [event, world.action("e-ok-2")],
        "replay": {"postback_id": postback["id"], "action_id": "A-1"},
    }
    return bodies, {"program": world.program["id"], "postback": postback["id"]}


@BAD_TEXTS
async def test_bad_text_in_any_body_field_is_a_422_naming_it(api: Api, bad: str) -> None:
    world = await api.world()
    bodies, ids = await _bodies(api, world)
    before = await counts(api)
    for method, path, builder, fields in BODY_CASES:
        for dotted in fields:
            body = _set(bodies[builder], dotted, bad)
            r = await call(api, method, path.format(**ids), body=body)
            where = f"{method} {path} {dotted}"
            assert r.status_code == 422, (where, r.status_code, r.text)
            named = [p["field"] for p in r.json()["detail"]]
            assert _field(dotted, builder) in named, (where, named)
            assert await counts(api) == before, where


@BAD_TEXTS
async def test_bad_text_in_a_name_is_a_422(api: Api, bad: str) -> None:
    """A key of ``data`` or of ``headers`` is stored too."""
    world = await api.world()
    before = await counts(api)
    event = world.action("e-key")
    event["data"][f"Custom{bad}"] = "1"
    r = await call(api, "POST", "/v1/events", body=event)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"].startswith("data.Custom")
    body = {**LIFECYCLE, "headers": {f"X{bad}": "1"}}
    r = await call(api, "POST", "/v1/postbacks", world.partner["api_key"], body=body)
    assert r.status_code == 422, r.text
    assert await counts(api) == before


PATH_CASES = [
    ("GET", "/v1/postbacks/{}"),
    ("PATCH", "/v1/postbacks/{}"),
    ("DELETE", "/v1/postbacks/{}"),
    ("POST", "/v1/postbacks/{}/preview"),
    ("POST", "/v1/postbacks/{}/test"),
    ("POST", "/v1/programs/{}/event-types"),
    ("GET", "/v1/deliveries/{}"),
    ("POST", "/v1/deliveries/{}/redeliver"),
    ("GET", "/v1/parameters/{}"),
]


async def test_nul_in_a_path_or_query_parameter_is_a_422(api: Api) -> None:
    """(A surrogate cannot arrive in a path or query: they are decoded with replacement.)"""
    before = await counts(api)
    for method, path in PATH_CASES:
        body = {"name": "x"} if method != "GET" else None
        r = await call(api, method, path.format("pb%00x"), body=body)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert r.json()["detail"][0]["field"] in (
            "postback_id",
            "program_id",
            "delivery_id",
            "kind",
        )
    for name in ("postback_id", "action_id", "cursor", "status"):
        r = await api.call("GET", f"/v1/deliveries?{name}=a%00b")
        assert r.status_code == 422, (name, r.text)
        assert r.json()["detail"][0]["field"] == name
    assert await counts(api) == before


def _cursor(stamp: str, seq: int = 1) -> str:
    return base64.urlsafe_b64encode(f"{stamp}|{seq}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+14:00",  # year 0 in UTC
        "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+00:00",
        "1066-10-14T09:00:00+00:00",
    ],
)
async def test_a_cursor_at_an_impossible_time_is_a_422(api: Api, stamp: str) -> None:
    r = await api.call("GET", "/v1/deliveries", params={"cursor": _cursor(stamp)})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "cursor"


async def test_a_chunked_body_over_the_limit_is_a_413(api: Api) -> None:
    """No Content-Length: the body is counted as it arrives."""
    chunk = b"[" + b" " * 16 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):  # 128 KiB against a 64 KiB limit
            yield chunk

    before = await counts(api)
    r = await api.client.post(
        "/v1/events",
        content=chunks(),
        headers={**api._auth(None), "Content-Type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text
    assert await counts(api) == before


# -- acceptance by the catalogue alone --------------------------------------------------
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"items": [{"sku": "A", "amt": "abc"}]}, "[0].data.items[0].amt"),
        ({"items": [{"sku": "A"}, {"qty": "two"}]}, "[0].data.items[1].qty"),
        ({"items": [{"cartamt": "1e999999"}]}, "[0].data.items[0].cartamt"),
        ({"items": [7]}, "[0].data.items[0]"),
        ({"Payout": "1E+400"}, "[0].data.Payout"),
        ({"Numeric1": "3.5"}, "[0].data.Numeric1"),
        ({"Numeric2": True}, "[0].data.Numeric2"),
        ({"iosAdTracking": "yes"}, "[0].data.iosAdTracking"),
        ({"Date1": "tomorrow"}, "[0].data.Date1"),
        ({"Date2": 17}, "[0].data.Date2"),
    ],
)
@pytest.mark.parametrize("configured", [False, True], ids=["no_postback", "postback_uses_it"])
async def test_the_same_event_gets_the_same_answer_whatever_is_configured(
    api: Api, data: dict[str, Any], field: str, configured: bool
) -> None:
    world = await api.world()
    if configured:
        url = (
            "https://p.example/?n={Numeric1}{Numeric2}&d={Date1}{Date2}&i={iosAdTracking}"
            '{join(items,i,"&a={i.amt}{i.qty}{i.cartamt}")}'
        )
        await api.ok(
            "POST", "/v1/postbacks", world.partner["api_key"], json={**LIFECYCLE, "url": url}
        )
    before = await counts(api)
    r = await api.call("POST", "/v1/events", json=[world.action("typed", **data)])
    assert r.status_code == 422, r.text
    assert field in [p["field"] for p in r.json()["detail"]], r.json()
    assert await counts(api) == before


async def test_good_typed_values_are_accepted(api: Api) -> None:
    world = await api.world()
    data = {
        "Numeric1": 3,
        "Numeric2": "-4",
        "Numeric3": 5.0,
        "iosAdTracking": "false",
        "Date1": "2026-11-22",
        "items": [{"sku": "A", "qty": "2", "amt": 1.5}, {"qty": 1, "amt": "3"}],
    }
    r = await api.call("POST", "/v1/events", json=world.action("typed-ok", **data))
    assert r.status_code == 202, r.text


async def test_items_are_capped(tmp_path: Any) -> None:
    async with running_api(f"sqlite:///{tmp_path}/a.db", max_items=3) as api:
        world = await api.world()
        items = [{"sku": str(i)} for i in range(4)]
        r = await api.call("POST", "/v1/events", json=world.action("many", items=items))
        assert r.status_code == 422, r.text
        [problem] = r.json()["detail"]
        assert problem["field"].endswith("data.items")
        assert "at most 3 items" in problem["message"]
        r = await api.call("POST", "/v1/events", json=world.action("few", items=items[:3]))
        assert r.status_code == 202, r.text


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_request_over_the_size_limit_fails_that_delivery_only(
    request: pytest.FixtureRequest, tmp_path: Any, database: str
) -> None:
    url = (
        f"sqlite:///{tmp_path}/a.db" if database == "sqlite" else request.getfixturevalue("pg_url")
    )
    async with running_api(url, max_request_bytes=4096) as api:
        world = await api.world()
        key = world.partner["api_key"]
        big = {
            **LIFECYCLE,
            "method": "POST",
            "body_format": "json",
            "body": '{"items": [{join(items, i, "\\"{i.name}\\"", ",")}]}',
        }
        small = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
        large = await api.ok("POST", "/v1/postbacks", key, json=big)
        items = [{"name": "x" * 100} for _ in range(100)]  # a ~10 KB body
        result = await api.ok("POST", "/v1/events", json=world.action("big", items=items))
        assert result["deliveries"] == 2
        page = await api.ok("GET", "/v1/deliveries")
        by_postback = {d["postback_id"]: d for d in page["items"]}
        assert by_postback[small["id"]]["status"] == "scheduled"
        failed = by_postback[large["id"]]
        assert failed["status"] == "failed"
        assert failed["last_error"].startswith("too_large: ")
        assert re.search(r"is 10,\d{3} bytes, over the limit of 4,096", failed["last_error"])
        assert failed["request"]["body"] is None  # the oversized request is not stored
        r = await api.call("POST", f"/v1/deliveries/{failed['id']}/redeliver", key)
        assert r.status_code == 409, r.text
        replayed = await api.ok("POST", "/v1/deliveries/replay", key, json={"status": "failed"})
        assert replayed["queued"] == 0


# -- headers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"X-A\n": "1"},
        {"X-A\r\n": "1"},
        {"X A": "1"},
        {"X-A": "a\tb"},
        {"X-A": "a\x01b"},
        {"X-A": "a\x7fb"},
        {"X-A": "a\nb"},
    ],
)
async def test_unsendable_headers_are_refused_at_save(api: Api, headers: dict[str, str]) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    before = await counts(api)
    r = await api.call("POST", "/v1/postbacks", key, json={**LIFECYCLE, "headers": headers})
    assert r.status_code == 422, r.text
    [name] = headers
    assert r.json()["detail"][0]["field"] == f"headers.{name}"
    assert await counts(api) == before
    created = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    r = await api.call("PATCH", f"/v1/postbacks/{created['id']}", key, json={"headers": headers})
    assert r.status_code == 422, r.text


async def test_a_control_character_in_the_url_is_refused(api: Api) -> None:
    world = await api.world()
    body = {**LIFECYCLE, "url": "https://p.example/?a=\x01{ActionId}"}
    r = await api.call("POST", "/v1/postbacks", world.partner["api_key"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "url"


# -- a 503 means the database is out of reach, and says why in the log ---------------------
async def test_a_503_is_logged_with_its_cause(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import _admin

    async with running_api(pg_url) as api:
        world = await api.world()
        name = pg_url.rsplit("/", 1)[1]
        _admin(f'DROP DATABASE "{name}" WITH (FORCE)')  # its connections are ended
        with caplog.at_level(logging.ERROR, logger="postback.api"):
            r = await api.call("GET", "/v1/postbacks", world.partner["api_key"])
        assert r.status_code == 503, r.text
        [record] = [r for r in caplog.records if r.name == "postback.api"]
        message = record.getMessage()
        assert message.startswith("503 for GET /v1/postbacks: the database failed: ")
        assert name in message or "connection" in message.lower(), message
        assert world.partner["api_key"] not in message


def test_a_chunked_body_over_the_limit_is_a_413_from_a_real_server(tmp_path: Any) -> None:
    """The same through uvicorn on loopback, as a producer's HTTP client sends it."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/api.db", admin_key=ADMIN, max_body_bytes=64 * 1024
    )
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:

        def chunks() -> Iterator[bytes]:
            yield b'[{"id": "' + b"x" * 1024
            for _ in range(100):
                yield b"x" * 1024

        r = client.post(
            "/v1/events",
            content=chunks(),
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        )
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 413, r.text
        assert "65536 bytes" in r.json()["detail"]
        ok = client.get("/healthz")  # the server goes on
        assert ok.status_code == 200


async def test_a_preview_over_the_size_limit_says_so(tmp_path: Any) -> None:
    async with running_api(f"sqlite:///{tmp_path}/a.db", max_request_bytes=100) as api:
        world = await api.world()
        key = world.partner["api_key"]
        url = "https://partner.example/pb?a={ActionId}&pad=" + "p" * 100
        postback = await api.ok("POST", "/v1/postbacks", key, json={**LIFECYCLE, "url": url})
        shown = await api.ok("POST", f"/v1/postbacks/{postback['id']}/preview", key)
        assert any("over the limit of 100 bytes" in w for w in shown["warnings"])


async def test_a_delivery_that_cannot_render_is_stored_failed_and_the_rest_go_on(
    tmp_path: Any,
) -> None:
    """The safety net behind the ingest checks: an event that reaches rendering with a
    value its template cannot format (here by skipping the checks) fails that delivery."""
    async with running_api(f"sqlite:///{tmp_path}/a.db") as api:
        world = await api.world()
        key = world.partner["api_key"]
        uses_amt = {**LIFECYCLE, "url": 'https://p.example/?{join(items,i,"a={i.amt}")}'}
        await api.ok("POST", "/v1/postbacks", key, json=uses_amt)
        await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
        service = api.app.state.service
        raw = world.action("unchecked", items=[{"amt": "abc"}])
        event = Event(raw["id"], EventTopic(raw["type"]), datetime.now(UTC), raw["data"])
        [matched] = await service.store.matching_postbacks_many([event])
        await service.store.ingest([service._fan_out("", event, matched)])
        page = await api.ok("GET", "/v1/deliveries")
        by_status = {d["status"]: d for d in page["items"]}
        assert sorted(by_status) == ["failed", "scheduled"]
        assert by_status["failed"]["last_error"].startswith("render_failed: bad value for")


async def test_a_template_that_would_render_gigabytes_fails_that_delivery_at_once(
    tmp_path: Any,
) -> None:
    """One partner's join repeating a large value per item is stopped before it is built."""
    async with running_api(f"sqlite:///{tmp_path}/a.db") as api:
        world = await api.world()
        key = world.partner["api_key"]
        repeat = {**LIFECYCLE, "url": 'https://p.example/?{join(items,i,"a={ActionId}")}'}
        await api.ok("POST", "/v1/postbacks", key, json=repeat)
        small = {**LIFECYCLE, "url": "https://p.example/?p={Payout}"}
        await api.ok("POST", "/v1/postbacks", key, json=small)
        event = world.action("huge", ActionId="A" * 1_000_000, items=[{"sku": "s"}] * 1000)
        started = time.perf_counter()
        result = await api.ok("POST", "/v1/events", json=event)
        assert time.perf_counter() - started < 10  # not the seconds a 1 GB string takes
        assert result["deliveries"] == 2
        page = await api.ok("GET", "/v1/deliveries")
        errors = sorted(str(d["last_error"]) for d in page["items"])
        assert errors[0] == "None"
        assert errors[1].startswith("too_large: the rendered text would be over 16,777,216")
