"""The circuit breaker end to end, on SQLite and PostgreSQL: a real worker sends to a
healthy receiver and to a dead port on loopback; then the dead port comes to life.

The worker's clock is movable: the cool-down is made to pass by moving it, not by
sleeping through it."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from postback.config import Settings
from postback.delivery.breaker import Policy, destination
from postback.delivery.metrics import ATTEMPTS, BREAKER_OPENS
from postback.delivery.transport import AioHttpTransport
from postback.delivery.worker import Worker, WorkerOptions
from postback.domain.records import (
    AccountKind,
    Delivery,
    DeliveryStatus,
    Event,
    EventTopic,
    HttpMethod,
    NewDelivery,
    PartnerType,
    PostbackConfig,
    PostbackKind,
    RenderedRequest,
)
from postback.storage import open_store
from postback.storage.interfaces import DeliveryFilter, IngestItem
from postback.storage.sql_store import SQLStore
from postback.testing import LocalResolver, MovableClock
from tests.e2e.receiver import Receiver, receiver
from tests.e2e.rig import LOOPBACK

COOLDOWN = 300.0  # never over in real time during the test: the clock is moved past it
PER_DESTINATION = 4
EACH = 60  # deliveries to each destination


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/e2e.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


@asynccontextmanager
async def worker(url: str, clock: MovableClock) -> AsyncIterator[SQLStore]:
    store = open_store(url)
    assert isinstance(store, SQLStore)
    await store.migrate()
    settings = Settings(
        database_url=url, allowed_networks=LOOPBACK, connect_timeout=5.0, total_timeout=10.0
    )
    transport = AioHttpTransport(settings, LocalResolver())
    options = WorkerOptions(
        idle_wait=0.05,
        lease_seconds=30,
        per_destination=PER_DESTINATION,
        slow_after=60.0,  # no shedding: a busy test machine must not fail healthy sends
        breaker=Policy(failures=3, cooldown=COOLDOWN, max_cooldown=4 * COOLDOWN),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(store, transport, options, clock).run(stop))
    try:
        yield store
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await transport.close()
        await store.close()


@asynccontextmanager
async def alive_on(port: int, rec: Receiver) -> AsyncIterator[None]:
    """The receiver's app, answering on ``port`` too (the dead destination comes back)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def _ingest(store: SQLStore, clock: MovableClock, urls: dict[str, str]) -> None:
    """EACH deliveries per postback (name -> its base URL), interleaved in due order."""
    partner = await store.create_account("P", AccountKind.PARTNER, PartnerType.CASHBACK, "h")
    ids = {}
    for name, url in urls.items():
        cfg = PostbackConfig(kind=PostbackKind.ACTION_LIFECYCLE, url=url, name=name)
        ids[name] = (await store.create_postback(partner.id, cfg)).id
    now = clock()
    items = []
    for n in range(EACH):
        for name, url in urls.items():
            new = NewDelivery(
                postback_id=ids[name],
                owner_id=partner.id,
                request=RenderedRequest(HttpMethod.GET, f"{url}?n={n}", (), None),
                due_at=now + timedelta(microseconds=n),
                order_key=f"{name}{n}",
                action_id=f"{name}{n}",
            )
            event = Event(f"{name}-{n}", EventTopic.ACTION_TRACKED, now, {})
            items.append(IngestItem(event, (new,)))
    await store.ingest(items)


async def _log(store: SQLStore) -> list[Delivery]:
    page = await store.list_deliveries(None, DeliveryFilter(), 500, None)
    return [await store.get_delivery(d.id, None) for d in page.items]


async def _until(store: SQLStore, check: Any, timeout: float = 20.0) -> list[Delivery]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        found = await _log(store)
        if check(found):
            return found
        assert loop.time() < end, [(d.request.url, d.status, d.attempt_count) for d in found]
        await asyncio.sleep(0.05)


def _outcomes(d: Delivery) -> list[str]:
    return [a.outcome for a in d.attempts]


def _counted(outcome: str) -> float:
    return float(ATTEMPTS.labels(outcome=outcome)._value.get())


async def test_a_dead_port_is_skipped_in_bulk_then_probed_back_to_life(
    database_url: str, dead_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "postback.worker")
    clock = MovableClock()
    opens, skipped = BREAKER_OPENS._value.get(), _counted("skipped")
    dead = f"http://127.0.0.1:{dead_port}/pb"
    async with receiver() as rec, worker(database_url, clock) as store:
        await _ingest(store, clock, {"ok": rec.url("/ok"), "dead": dead})

        def settled(found: list[Delivery]) -> bool:
            ok = [d for d in found if "/ok" in d.request.url]
            bad = [d for d in found if d not in ok]
            return all(d.status is DeliveryStatus.DELIVERED for d in ok) and all(
                d.attempt_count == 1 for d in bad
            )

        found = await _until(store, settled)
        bad = [d for d in found if d.request.url.startswith(dead)]
        assert len(bad) == EACH and len(rec.on("/ok")) == EACH
        tried = [d for d in bad if _outcomes(d) == ["connection"]]
        held = [d for d in bad if _outcomes(d) == ["skipped"]]
        # A few sends found the port dead (at most a lane's worth were under way when the
        # breaker opened); every other delivery to it was skipped, unsent.
        assert 3 <= len(tried) <= PER_DESTINATION + 3 and len(tried) + len(held) == EACH
        probe_at = {d.due_at for d in held}
        [at] = probe_at  # all moved to the one probe time
        for d in held:
            [attempt] = d.attempts
            assert d.status is DeliveryStatus.RETRYING and attempt.reply is None
            assert attempt.error is not None and "circuit breaker is open" in attempt.error
            assert "127.0.0.1" in attempt.error and d.last_error == attempt.error
            assert (at - attempt.started_at).total_seconds() <= COOLDOWN + 1
        for d in tried:  # the retry schedule's first wait, 30 s x [0.5, 1.5)
            wait = (d.due_at - d.attempts[0].started_at).total_seconds()
            assert 15 <= wait <= 45
        assert BREAKER_OPENS._value.get() == opens + 1
        assert _counted("skipped") == skipped + len(held)
        said = [r for r in caplog.records if getattr(r, "destination", "") == destination(dead)]
        assert [r.levelname for r in said][:1] == ["WARNING"]
        assert "is not answering" in said[0].getMessage()

        # Nothing is sent to it before the probe time, even with the port alive again;
        # from the probe time on, everything (the retries due by then too).
        async with alive_on(dead_port, rec):
            await asyncio.sleep(0.3)
            assert rec.on("/pb") == []
            clock.advance(timedelta(seconds=COOLDOWN))

            found = await _until(
                store, lambda f: all(d.status is DeliveryStatus.DELIVERED for d in f)
            )
            held_ids = {d.id for d in held}
            for d in found:
                if d.id in held_ids:
                    assert _outcomes(d) == ["skipped", "delivered"]
                    assert [a.number for a in d.attempts] == [1, 2]
                elif d.request.url.startswith(dead):
                    assert _outcomes(d) == ["connection", "delivered"]
            assert len(rec.on("/pb")) == EACH  # each sent once, after the probe
            closed = [r.getMessage() for r in caplog.records if "answers again" in r.getMessage()]
            assert closed == [f"{destination(dead)} answers again: sending to it resumes"]
            assert BREAKER_OPENS._value.get() == opens + 1
