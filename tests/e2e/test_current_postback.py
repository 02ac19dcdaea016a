"""Retries and redeliveries use the postback as it is now, and the log stores a request
once per delivery: a real worker, a real receiver on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from postback.delivery.transport import USER_AGENT
from postback.domain.records import (
    BodyFormat,
    DeliveryStatus,
    Event,
    EventTopic,
    HttpMethod,
    NewDelivery,
)
from postback.rules.event import with_defaults
from postback.service.usecases import OPERATOR
from postback.storage.interfaces import IngestItem
from postback.storage.sql import attempts
from tests.e2e.receiver import Receiver
from tests.e2e.rig import Rig, later, status_is

DELIVERED, RETRYING = DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING


async def _attempt_rows(r: Rig, delivery_id: str) -> list[Any]:
    async with r.store.engine.connect() as conn:
        found = await conn.execute(
            select(attempts).where(attempts.c.delivery_id == delivery_id).order_by(attempts.c.id)
        )
        return list(found)


async def test_a_fixed_template_is_used_by_the_retry(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/broken", (500, "no such page", {}))
    rec.script("/fixed", (200, "OK", {}))
    pb = await r.postback(
        rec.url("/broken?a={ActionId}"),
        method=HttpMethod.POST,
        body='{"wrong": "{ActionId}"}',
        body_format=BodyFormat.JSON,
    )
    await r.event(action_id="A-9")
    [d] = await r.until(status_is(RETRYING))
    assert d.postback_version == 1
    fixed = await r.service.update_postback(
        OPERATOR,
        pb.id,
        {"url": rec.url("/fixed?action={ActionId}"), "body": '{"action": "{ActionId}"}'},
    )
    assert fixed.version == 2
    later(r, 3600)
    [d] = await r.until(status_is(DELIVERED, attempts=2))
    [seen] = rec.on("/fixed")
    assert seen.path_qs == "/fixed?action=A-9"
    assert seen.body == '{"action": "A-9"}'
    assert len(rec.on("/broken")) == 1
    first, second = d.attempts
    # Each attempt logs what it sent, with the postback version it used.
    assert first.request.url == rec.url("/broken?a=A-9")
    assert first.request.body == '{"wrong": "A-9"}'
    assert first.postback_version == 1
    assert second.request.url == rec.url("/fixed?action=A-9")
    assert second.request.body == '{"action": "A-9"}'
    assert second.postback_version == 2
    # The delivery now holds the request it was delivered with.
    assert d.request.url == rec.url("/fixed?action=A-9")
    assert d.postback_version == 2


async def test_the_log_shows_the_request_as_sent(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/h", (200, "OK", {}))
    await r.postback(rec.url("/h?token={ActionId}"), headers=(("X-Api-Key", "s3cret"),))
    await r.event()
    [d] = await r.until(status_is(DELIVERED))
    [attempt] = d.attempts
    headers = dict(attempt.request.headers)
    assert headers["Postback-Id"] == d.id
    assert headers["User-Agent"] == USER_AGENT
    assert headers["X-Api-Key"] == "[redacted]"
    assert "A-1" not in attempt.request.url  # the token query parameter stays redacted
    [seen] = rec.on("/h")
    assert seen.headers["User-Agent"] == USER_AGENT


async def test_retries_store_the_request_once(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/big", (500, "down", {}), (500, "down", {}), (200, "OK", {}))
    big = "x" * 50_000
    await r.postback(
        rec.url("/big"),
        method=HttpMethod.POST,
        body='{"a": "{ActionId}", "pad": "' + big + '"}',
        body_format=BodyFormat.JSON,
    )
    await r.event()
    await r.until(status_is(RETRYING))
    later(r, 3600)
    await r.until(status_is(RETRYING, attempts=2))
    later(r, 3600 * 3)
    [d] = await r.until(status_is(DELIVERED, attempts=3))
    stored = await _attempt_rows(r, d.id)
    assert len(stored) == 3
    assert all(row.request_body is None and row.request_url is None for row in stored)
    # ... and the API still shows each attempt's whole request.
    assert [len(a.request.body or "") for a in d.attempts] == [len(d.request.body or "")] * 3
    assert all(a.request.url == rec.url("/big") for a in d.attempts)


async def test_redeliver_uses_the_current_postback(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    pb = await r.postback(rec.url("/v1?a={ActionId}"))
    await r.event()
    [d] = await r.until(status_is(DELIVERED))
    await r.service.update_postback(OPERATOR, pb.id, {"url": rec.url("/v2?b={ActionId}")})
    await r.store.redeliver(d.id, None, r.clock())
    [d] = await r.until(status_is(DELIVERED, attempts=2))
    assert [s.path_qs for s in rec.seen] == ["/v1?a=A-1", "/v2?b=A-1"]
    assert [a.request.url for a in d.attempts] == [rec.url("/v1?a=A-1"), rec.url("/v2?b=A-1")]
    assert [a.postback_version for a in d.attempts] == [1, 2]
    old, new = await _attempt_rows(r, d.id)
    assert old.request_url == rec.url("/v1?a=A-1")  # kept when the delivery's changed
    assert new.request_url == rec.url("/v2?b=A-1")


async def test_a_change_that_renders_the_same_request_stores_nothing_new(
    env: tuple[Rig, Receiver],
) -> None:
    r, rec = env
    rec.script("/same", (500, "down", {}), (200, "OK", {}))
    pb = await r.postback(rec.url("/same?a={ActionId}"))
    await r.event()
    await r.until(status_is(RETRYING))
    await r.service.update_postback(OPERATOR, pb.id, {"success_response": "OK"})
    later(r, 3600)
    [d] = await r.until(status_is(DELIVERED, attempts=2))
    assert [a.postback_version for a in d.attempts] == [1, 2]
    assert d.postback_version == 2
    assert all(row.request_url is None for row in await _attempt_rows(r, d.id))


async def test_a_postback_that_no_longer_renders_the_event_fails_the_attempt(
    env: tuple[Rig, Receiver],
) -> None:
    r, rec = env
    rec.script("/r", (500, "down", {}), (200, "OK", {}))
    pb = await r.postback(rec.url("/r?a={ActionId}"))
    # Stored as it was accepted before item amounts were checked at ingest: an amount
    # no template used then, that the changed postback cannot render.
    event = Event(
        id="ev-old",
        type=EventTopic.ACTION_TRACKED,
        occurred_at=r.clock(),
        data={
            "MediaPartnerId": r.partner_id,
            "CampaignId": "prog",
            "ActionTrackerId": "trk",
            "ActionId": "A-1",
            "items": [{"sku": "s1", "amt": "abc"}],
        },
    )
    request = r.service.render(pb, with_defaults(event))
    new = NewDelivery(pb.id, pb.owner_id, request, r.clock(), "A-1", "A-1")
    await r.store.ingest([IngestItem(event, (new,))])
    await r.until(status_is(RETRYING))
    changed = rec.url('/r?a={ActionId}{join(items,i,"&amt={i.amt}","","")}')
    await r.service.update_postback(OPERATOR, pb.id, {"url": changed})
    later(r, 3600)
    [d] = await r.until(status_is(RETRYING, attempts=2))
    assert d.attempts[1].outcome == "template"
    assert "version 2" in (d.attempts[1].error or "")
    assert len(rec.on("/r")) == 1
    assert d.postback_version == 1  # rendered again (and failed again) at the next retry


async def test_a_shorter_minimum_delay_applies_to_waiting_deliveries(
    env: tuple[Rig, Receiver],
) -> None:
    r, rec = env
    pb = await r.postback(rec.url("/d?a={ActionId}"), min_delay_seconds=3600)
    await r.event()
    await r.holds(lambda found: found[0].status is DeliveryStatus.SCHEDULED, seconds=0.3)
    await r.service.update_postback(OPERATOR, pb.id, {"min_delay_seconds": 0})
    [d] = await r.until(status_is(DELIVERED))
    assert d.attempts[0].postback_version == 2
    assert len(rec.on("/d")) == 1


async def test_a_test_send_shows_the_request_as_sent(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    pb = await r.postback(rec.url("/t?a={ActionId}"))
    result = await r.service.test_send(pb, None, None)
    [seen] = rec.on("/t")
    headers = dict(result.request.headers)
    assert headers["Postback-Id"] == seen.headers["Postback-Id"]
    assert headers["User-Agent"] == seen.headers["User-Agent"] == USER_AGENT
