"""The delivery engine against real receivers on loopback, on SQLite and PostgreSQL.

Each test checks what the receiver got and what the log says. Retries are made due by
moving the worker's clock, never by sleeping through a backoff.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from postback.domain.records import (
    AccountKind,
    BodyFormat,
    DeliveryStatus,
    FailureReason,
    HttpMethod,
    PartnerType,
)
from tests.e2e.receiver import Receiver, raw_server, receiver
from tests.e2e.rig import LOOPBACK, Rig, all_final, later, rig, status_is

DELIVERED, RETRYING, FAILED = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.RETRYING,
    DeliveryStatus.FAILED,
)


async def test_success_is_logged_with_request_and_reply(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/ok", (200, "accepted", {"X-Reply": "1"}))
    await r.postback(rec.url("/ok?a={ActionId}&p={Payout}"), success_response="accepted")
    await r.event(Payout="12.5")
    [d] = await r.until(all_final(1))
    assert d.status is DELIVERED
    [seen] = rec.on("/ok")
    assert seen.path_qs == "/ok?a=A-1&p=12.50"
    assert seen.headers["Postback-Id"] == d.id
    [attempt] = d.attempts
    assert attempt.outcome == "delivered"
    assert attempt.reply is not None and attempt.reply.status == 200
    assert attempt.reply.body == b"accepted"
    assert attempt.request.url == rec.url("/ok?a=A-1&p=12.50")
    assert attempt.duration_ms > 0


async def test_post_body_and_headers_are_sent_as_rendered(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    await r.postback(
        rec.url("/post"),
        method=HttpMethod.POST,
        body='{"id": "{ActionId}"}',
        body_format=BodyFormat.JSON,
        headers=(("X-Partner", "{MediaPartnerId}"),),
    )
    await r.event(action_id="B-7")
    await r.until(status_is(DELIVERED))
    [seen] = rec.on("/post")
    assert seen.method == "POST"
    assert seen.body == '{"id": "B-7"}'
    assert seen.headers["X-Partner"] == r.partner_id
    assert seen.headers["Content-Type"].startswith("application/json")


async def test_success_text_missing_is_a_failed_attempt(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/s", (200, "nope", {}))
    await r.postback(rec.url("/s"), success_response="OK-123")
    await r.event()
    [d] = await r.until(status_is(RETRYING))
    assert d.attempts[0].outcome == FailureReason.SUCCESS_TEXT_MISSING


async def test_error_text_found_is_a_failed_attempt(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/e", (200, "status=ERROR duplicate", {}))
    await r.postback(rec.url("/e"), error_response="ERROR")
    await r.event()
    [d] = await r.until(status_is(RETRYING))
    assert d.attempts[0].outcome == FailureReason.ERROR_TEXT_FOUND


async def test_500_then_200_is_retried_then_delivered(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/flaky", (500, "down", {}), (200, "OK", {}))
    await r.postback(rec.url("/flaky"))
    await r.event()
    [d] = await r.until(status_is(RETRYING))
    assert d.due_at > r.clock()
    later(r, 3600)
    [d] = await r.until(status_is(DELIVERED, attempts=2))
    assert [a.outcome for a in d.attempts] == ["status", "delivered"]
    assert len(rec.on("/flaky")) == 2
    ids = {s.headers["Postback-Id"] for s in rec.on("/flaky")}
    assert ids == {d.id}


async def test_429_retry_after_is_honoured(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/busy", (429, "slow down", {"Retry-After": "120"}), (200, "OK", {}))
    await r.postback(rec.url("/busy"))
    await r.event()
    [d] = await r.until(status_is(RETRYING))
    wait = (d.due_at - d.attempts[0].started_at).total_seconds()
    assert 119 <= wait <= 122
    later(r, 121)
    await r.until(status_is(DELIVERED, attempts=2))


@pytest.mark.parametrize("status", [404, 410])
async def test_4xx_is_not_retried(env: tuple[Rig, Receiver], status: int) -> None:
    r, rec = env
    rec.script("/gone", (status, "no", {}))
    await r.postback(rec.url("/gone"))
    await r.event()
    [d] = await r.until(status_is(FAILED))
    later(r, 7 * 24 * 3600)
    [d] = await r.until(status_is(FAILED))
    assert d.attempt_count == 1
    assert len(rec.on("/gone")) == 1


async def test_slow_reply_past_the_timeout(database_url: str) -> None:
    async with receiver() as rec, rig(database_url, total_timeout=0.5) as r:
        rec.script("/slow", (200, "OK", {}), delay=2.0)
        await r.postback(rec.url("/slow"))
        await r.event()
        [d] = await r.until(status_is(RETRYING))
        assert d.attempts[0].outcome == FailureReason.TIMEOUT


async def test_connection_reset(env: tuple[Rig, Receiver]) -> None:
    r, _ = env
    async with raw_server(None) as port:
        await r.postback(f"http://127.0.0.1:{port}/reset")
        await r.event()
        [d] = await r.until(status_is(RETRYING))
        assert d.attempts[0].outcome in {FailureReason.CONNECTION, FailureReason.PROTOCOL}


async def test_a_reply_that_is_not_http(env: tuple[Rig, Receiver]) -> None:
    r, _ = env
    async with raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n") as port:
        await r.postback(f"http://127.0.0.1:{port}/garbage")
        await r.event()
        [d] = await r.until(status_is(RETRYING))
        assert d.attempts[0].outcome == FailureReason.PROTOCOL


async def test_blocked_address_fails_without_a_request(database_url: str) -> None:
    async with receiver() as rec, rig(database_url, allowed=False) as r:
        await r.postback(rec.url("/internal"))
        await r.event()
        [d] = await r.until(status_is(FAILED))
        assert d.attempts[0].outcome == FailureReason.BLOCKED_ADDRESS
        assert rec.seen == []


async def test_an_accounts_allowed_networks_open_them_to_that_account_only(
    database_url: str,
) -> None:
    async with receiver() as rec, rig(database_url, allowed=False) as closed:
        insider = await closed.store.create_account(
            "Insider",
            AccountKind.PARTNER,
            PartnerType.CASHBACK,
            "hash-i",
            allowed_networks=LOOPBACK,
        )
        opened = replace(closed, partner_id=insider.id)
        by_name = rec.url("/named").replace("127.0.0.1", "localhost")
        await opened.postback(rec.url("/insider"))
        await opened.postback(by_name)
        await opened.event("A-1")
        await opened.until(all_final(2))
        # The same host, by address and by name, right after the insider's sends (a
        # kept-alive connection and a cached DNS answer exist): still refused.
        closed.seq = opened.seq  # event ids go on from the insider's
        await closed.postback(rec.url("/outsider"))
        await closed.postback(by_name + "?outsider=1")
        await closed.event("A-2")
        found = await closed.until(all_final(4))
    mine = {d.postback_id: d for d in found}
    outcomes = sorted((d.status, d.attempts[0].outcome) for d in mine.values())
    assert outcomes == [
        (DELIVERED, "delivered"),
        (DELIVERED, "delivered"),
        (FAILED, FailureReason.BLOCKED_ADDRESS),
        (FAILED, FailureReason.BLOCKED_ADDRESS),
    ]
    assert len(rec.on("/insider")) == 1
    assert [s.path_qs for s in rec.on("/named")] == ["/named"]
    assert rec.on("/outsider") == []


async def test_min_delay_is_respected(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    await r.postback(rec.url("/later"), min_delay_seconds=600)
    await r.event()
    [d] = await r.until(lambda found: len(found) == 1)
    assert d.status is DeliveryStatus.SCHEDULED
    # Not sent while the worker runs for half a second of real time (its clock stands).
    await r.holds(lambda found: found[0].status is DeliveryStatus.SCHEDULED, seconds=0.5)
    assert rec.on("/later") == []
    later(r, 601)
    await r.until(status_is(DELIVERED))
    assert len(rec.on("/later")) == 1


async def test_events_about_one_action_are_delivered_in_order(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/order", (500, "down", {}), (200, "OK", {}))
    await r.postback(rec.url("/order?s={Status}&n={Note}"))
    await r.event(action_id="X", Note="first")
    await r.until(status_is(RETRYING))
    await r.event(action_id="X", Note="second")
    await r.event(action_id="Y", Note="other")
    # The other action goes now; the second event of X waits for the first.
    await r.until(lambda found: sum(d.status is DELIVERED for d in found) == 1, timeout=5)
    assert [s.path_qs.split("n=")[1] for s in rec.on("/order")] == ["first", "other"]
    later(r, 3600)
    await r.until(all_final(3))
    assert [s.path_qs.split("n=")[1] for s in rec.on("/order")] == [
        "first",
        "other",
        "first",
        "second",
    ]


async def test_a_huge_retry_after_is_a_long_wait_not_a_stuck_delivery(
    env: tuple[Rig, Receiver],
) -> None:
    r, rec = env
    rec.script("/huge", (503, "busy", {"Retry-After": "9" * 5000}))
    await r.postback(rec.url("/huge"))
    await r.event()
    [d] = await r.until(status_is(RETRYING))
    wait = (d.due_at - d.attempts[0].started_at).total_seconds()
    assert 6 * 3600 - 5 <= wait <= 6 * 3600 + 5


async def test_secrets_in_reply_headers_are_redacted_in_the_log(env: tuple[Rig, Receiver]) -> None:
    r, rec = env
    rec.script("/cookie", (200, "OK", {"Set-Cookie": "session=s3cret", "X-Plain": "visible"}))
    await r.postback(rec.url("/cookie"))
    await r.event()
    [d] = await r.until(status_is(DELIVERED))
    reply = d.attempts[0].reply
    assert reply is not None
    headers = dict(reply.headers)
    assert "s3cret" not in headers["Set-Cookie"]
    assert headers["X-Plain"] == "visible"
