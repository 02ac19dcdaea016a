"""Redeliver "as sent" and "with the current postback", over HTTP with a real worker and
a real receiver on loopback, on SQLite and PostgreSQL: as sent is a new delivery of the
original's stored bytes, signed afresh, in the log beside the original, and retried on
the usual schedule; current sends the event rendered by the postback as it is now."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from postback.domain.records import BodyFormat, DeliveryStatus, HttpMethod, Resend
from postback.service.usecases import OPERATOR
from tests.apiclient import Api, running_api, worker_on
from tests.e2e.receiver import receiver
from tests.e2e.rig import LOOPBACK, later, rig, status_is
from tests.e2e.test_signing import raw_receiver

OLD_BODY = '{"v": 1, "action": "{ActionId}", "note": "café"}'
NEW_BODY = '{"v": 2, "action": "{ActionId}"}'


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/resend.db"
    return str(request.getfixturevalue("pg_url"))


async def _final(api: Api, key: str, delivery_id: str, attempts: int) -> dict[str, Any]:
    for _ in range(200):
        found = await api.ok("GET", f"/v1/deliveries/{delivery_id}", key)
        if found["status"] == "delivered" and len(found["attempts"]) == attempts:
            return found  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery {delivery_id} not delivered: {found}")


async def test_as_sent_sends_the_old_bytes_and_current_the_new(database_url: str) -> None:
    async with (
        raw_receiver() as raw,
        running_api(database_url, allowed_networks=LOOPBACK, max_request_bytes=4096) as api,
    ):
        world = await api.world()
        key = world.partner["api_key"]
        postback = await api.ok(
            "POST",
            "/v1/postbacks",
            key,
            json={
                "kind": "action_lifecycle",
                "url": raw.url("/hook?a={ActionId}"),
                "method": "POST",
                "body_format": "json",
                "body": OLD_BODY,
                "headers": {"X-Action": "{ActionId}"},
            },
        )
        secret = (await api.ok("GET", f"/v1/postbacks/{postback['id']}/secret", key))["secret"]
        await api.ok("POST", "/v1/events", json=world.action("ev-1", ActionId="A-7"))
        async with worker_on(api):
            [first] = (await api.ok("GET", "/v1/deliveries", key))["items"]
            original = await _final(api, key, first["id"], 1)
            # The template changes after the delivery was sent.
            await api.ok("PATCH", f"/v1/postbacks/{postback['id']}", key, json={"body": NEW_BODY})

            path = f"/v1/deliveries/{original['id']}/redeliver"
            copy = await api.ok("POST", path, key, json={"request": "as_sent"})
            assert copy["id"] != original["id"] and copy["original_id"] == original["id"]
            assert copy["status"] == "scheduled"
            copy = await _final(api, key, copy["id"], 1)
            again = await api.ok("POST", path, key, json={"request": "current"})
            assert again["id"] == original["id"] and again["original_id"] is None
            original = await _final(api, key, original["id"], 2)

    (h1, b1), (h2, b2), (h3, b3) = raw.requests
    old = json.dumps(json.loads(OLD_BODY.replace("{ActionId}", "A-7")), ensure_ascii=False)
    assert b1 == b2 == old.encode() and b"caf\xc3\xa9" in b2  # the same bytes, as sent
    assert json.loads(b3) == {"v": 2, "action": "A-7"}  # rendered by the current postback
    for headers in (h1, h2, h3):
        assert headers["X-Action"] == "A-7"
        assert headers["Content-Type"] == "application/json; charset=utf-8"
    # Signed afresh: the copy's own id and time, verified over the same body bytes.
    verifier = Webhook(secret)
    for headers, body, delivery_id in ((h1, b1, original), (h2, b2, copy), (h3, b3, original)):
        assert headers["webhook-id"] == headers["Postback-Id"] == delivery_id["id"]
        verifier.verify(body, headers)
    assert h2["webhook-signature"] != h1["webhook-signature"]
    assert int(h2["webhook-timestamp"]) >= int(h1["webhook-timestamp"])
    # Both in the log, each with its attempts: the copy links to the original.
    assert copy["request"]["url"] == raw.url("/hook?a=A-7")
    assert [a["request"]["body"] for a in copy["attempts"]] == [old]
    assert [a["postback_version"] for a in copy["attempts"]] == [1]
    assert [a["postback_version"] for a in original["attempts"]] == [1, 2]


async def test_as_sent_needs_a_stored_request(database_url: str) -> None:
    async with running_api(database_url, max_request_bytes=4096) as api:
        world = await api.world()
        key = world.partner["api_key"]
        await api.ok(
            "POST",
            "/v1/postbacks",
            key,
            json={
                "kind": "action_lifecycle",
                "url": "https://partner.example/?a={ActionId}",
                "method": "POST",
                "body_format": "json",
                "body": '{"items": [{join(items, i, "\\"{i.name}\\"", ",")}]}',
            },
        )
        items = [{"name": "x" * 100} for _ in range(100)]  # renders ~10 KB: over the limit
        await api.ok("POST", "/v1/events", json=world.action("big", items=items))
        [failed] = (await api.ok("GET", "/v1/deliveries", key))["items"]
        assert failed["last_error"].startswith("too_large")
        path = f"/v1/deliveries/{failed['id']}/redeliver"
        r = await api.call("POST", path, key, json={"request": "as_sent"})
        assert r.status_code == 409, r.text
        assert "no stored request" in r.json()["detail"]
        assert "too_large" in r.json()["detail"]
        r = await api.call("POST", path, key, json={"request": "sideways"})
        assert r.status_code == 422
        assert [p["field"] for p in r.json()["detail"]] == ["request"]


async def test_a_copy_is_retried_on_the_usual_schedule(database_url: str) -> None:
    async with receiver() as rec, rig(database_url) as r:
        rec.script("/s", (200, "OK", {}), (500, "down", {}), (200, "OK", {}))
        pb = await r.postback(
            rec.url("/s?a={ActionId}"),
            method=HttpMethod.POST,
            body='{"n": 1}',
            body_format=BodyFormat.JSON,
        )
        await r.event()
        [original] = await r.until(status_is(DeliveryStatus.DELIVERED))
        await r.service.update_postback(OPERATOR, pb.id, {"body": '{"n": 2}'})
        copy = await r.service.redeliver(OPERATOR, original.id, Resend.AS_SENT)

        def copy_is(status: DeliveryStatus, attempts: int) -> Any:
            def check(found: list[Any]) -> bool:
                [d] = [d for d in found if d.id == copy.id]
                return d.status is status and d.attempt_count == attempts

            return check

        await r.until(copy_is(DeliveryStatus.RETRYING, 1))
        retrying = await r.store.get_delivery(copy.id, None)
        assert retrying.due_at > r.clock()  # the next attempt waits its turn
        later(r, 3600)
        await r.until(copy_is(DeliveryStatus.DELIVERED, 2))
        assert [s.body for s in rec.on("/s")] == ['{"n": 1}'] * 3
        done = await r.store.get_delivery(copy.id, None)
        assert [a.outcome for a in done.attempts] == ["status", "delivered"]
        assert (await r.store.get_delivery(original.id, None)).attempt_count == 1
