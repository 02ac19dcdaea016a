"""Signed deliveries (Standard Webhooks), checked by the reference verifier on a real
receiver on loopback, on SQLite and PostgreSQL: across a rotation, and switched off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from postback.domain.records import BodyFormat, DeliveryStatus, HttpMethod
from tests.e2e.rig import Rig, all_final, rig

BODY = '{"action": "{ActionId}", "note": "café"}'


@dataclass
class Raw:
    """What a receiver got, byte for byte."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def raw_receiver() -> AsyncIterator[Raw]:
    raw = Raw()

    async def handle(request: web.Request) -> web.Response:
        raw.requests.append((dict(request.headers), await request.read()))
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    raw.port = runner.addresses[0][1]
    try:
        yield raw
    finally:
        await runner.cleanup()


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[tuple[Rig, Raw]]:
    async with raw_receiver() as rec, rig(database_url) as r:
        yield r, rec


async def _post(r: Rig, rec: Raw, **config: Any) -> str:
    postback = await r.postback(
        rec.url("/hook"), method=HttpMethod.POST, body=BODY, body_format=BodyFormat.JSON, **config
    )
    return postback.id


async def test_every_delivery_verifies_with_the_postbacks_secret(env: tuple[Rig, Raw]) -> None:
    r, rec = env
    pid = await _post(r, rec)
    secret = (await r.store.signing_secret(pid, None)).secret
    await r.event("A-1")
    [d] = await r.until(all_final(1))
    assert d.status is DeliveryStatus.DELIVERED
    [(headers, body)] = rec.requests
    assert body == '{"action": "A-1", "note": "café"}'.encode()
    assert headers["webhook-id"] == d.id
    assert Webhook(secret).verify(body, headers) == {"action": "A-1", "note": "café"}
    # The log shows the request as sent, with the signature redacted; no secret anywhere.
    [attempt] = d.attempts
    logged = dict(attempt.request.headers)
    assert logged["webhook-id"] == d.id
    assert logged["webhook-signature"] == "[redacted]"
    assert "whsec_" not in repr(d)


async def test_old_and_new_secret_both_verify_during_the_overlap(env: tuple[Rig, Raw]) -> None:
    r, rec = env
    pid = await _post(r, rec)
    old = (await r.store.signing_secret(pid, None)).secret
    rotated = await r.store.rotate_signing_secret(pid, None, 3600)
    assert rotated.secret != old and rotated.previous_expires_at is not None
    await r.event("A-1")
    await r.until(all_final(1))
    [(headers, body)] = rec.requests
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(rotated.secret).verify(body, headers)
    Webhook(old).verify(body, headers)

    # Rotated again with no overlap: only the newest secret signs.
    newest = await r.store.rotate_signing_secret(pid, None, 0)
    await r.event("A-2")
    await r.until(all_final(2))
    headers, body = rec.requests[1]
    Webhook(newest.secret).verify(body, headers)
    for stale in (old, rotated.secret):
        with pytest.raises(WebhookVerificationError):
            Webhook(stale).verify(body, headers)


async def test_signing_off_sends_no_webhook_headers(env: tuple[Rig, Raw]) -> None:
    r, rec = env
    await _post(r, rec, signing_enabled=False)
    await r.event("A-1")
    await r.until(all_final(1))
    [(headers, _)] = rec.requests
    assert not any(k.lower().startswith("webhook-") for k in headers)
