"""Worker processes on PostgreSQL: a shared rate limit, and a worker killed mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import asyncpg
import pytest

from postback.config import Settings
from postback.domain.records import (
    AccountKind,
    DeliveryStatus,
    Event,
    EventTopic,
    PartnerType,
    PostbackConfig,
    PostbackKind,
)
from postback.service.usecases import Service
from postback.storage import open_store
from postback.storage.interfaces import DeliveryFilter
from tests.conftest import PG_ADMIN_DSN
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.slow
ONE_WORKER = (sys.executable, "-m", "postback", "worker", "--processes", "1")


@contextmanager
def workers(
    pg_url: str, count: int, log: IO[bytes] | None = None, **env: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    environ = {
        **os.environ,
        "POSTBACK_DATABASE_URL": pg_url,
        "POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
        **env,
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "postback", "worker", "--processes", "1"],
            env=environ,
            stderr=log,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


async def _setup(pg_url: str, url: str, events: int, **config: object) -> Service:
    store = open_store(pg_url)
    await store.migrate()
    service = Service(store, Settings(database_url=pg_url))
    partner = await store.create_account("P", AccountKind.PARTNER, PartnerType.CASHBACK, "h")
    cfg = PostbackConfig(kind=PostbackKind.ACTION_LIFECYCLE, url=url, **config)  # type: ignore[arg-type]
    await store.create_postback(partner.id, cfg)
    now = datetime.now(UTC)
    batch = [
        Event(
            f"e{i}",
            EventTopic.ACTION_TRACKED,
            now,
            {
                "MediaPartnerId": partner.id,
                "CampaignId": "c",
                "ActionTrackerId": "t",
                "ActionId": f"A{i}",
            },
        )
        for i in range(events)
    ]
    for start in range(0, events, 200):
        await service.ingest(batch[start : start + 200])
    return service


async def _statuses(service: Service) -> Counter[DeliveryStatus]:
    counts: Counter[DeliveryStatus] = Counter()
    cursor = None
    while True:
        page = await service.store.list_deliveries(None, DeliveryFilter(), 500, cursor)
        counts.update(d.status for d in page.items)
        if page.next_cursor is None:
            return counts
        cursor = page.next_cursor


async def test_two_workers_hold_the_rate_limit_without_sending_twice(
    pg_url: str, rec: Receiver
) -> None:
    rate, seconds = 50, 10
    service = await _setup(
        pg_url, rec.url("/limited?a={ActionId}"), rate * (seconds + 3), max_requests_per_second=rate
    )
    try:
        with workers(pg_url, 2):
            while len(rec.seen) < 5:
                await asyncio.sleep(0.05)
            start = rec.seen[0].at + 1.0  # past the start-up of both workers
            await asyncio.sleep(1.0 + seconds + 0.5)
            window = [s for s in rec.seen if start <= s.at < start + seconds]
            assert rate * seconds * 0.9 <= len(window) <= rate * seconds * 1.1, len(window)
        ids = Counter(s.headers["Postback-Id"] for s in rec.seen)
        assert ids.most_common(1)[0][1] == 1, "a delivery was sent twice"
    finally:
        await service.aclose()


async def test_a_worker_killed_mid_run_loses_nothing(pg_url: str, rec: Receiver) -> None:
    total = 300
    rec.script("/slowish", (200, "OK", {}), delay=0.02)
    service = await _setup(pg_url, rec.url("/slowish?a={ActionId}"), total)
    try:
        with workers(pg_url, 1, POSTBACK_LEASE_SECONDS="3") as [victim]:
            while len(rec.seen) < 50:
                await asyncio.sleep(0.01)
            victim.send_signal(signal.SIGKILL)
            victim.wait(5)
        assert len({s.headers["Postback-Id"] for s in rec.seen}) < total
        with workers(pg_url, 1, POSTBACK_LEASE_SECONDS="3"):
            for _ in range(600):
                counts = await _statuses(service)
                if counts[DeliveryStatus.DELIVERED] == total:
                    break
                await asyncio.sleep(0.1)
        assert (await _statuses(service))[DeliveryStatus.DELIVERED] == total
        assert len({s.headers["Postback-Id"] for s in rec.seen}) == total
    finally:
        await service.aclose()


async def test_sigterm_finishes_in_flight_sends_then_stops(pg_url: str, rec: Receiver) -> None:
    total = 40
    rec.script("/slow", (200, "OK", {}), delay=1.0)
    service = await _setup(pg_url, rec.url("/slow?a={ActionId}"), total)
    try:
        with workers(pg_url, 1) as [worker]:
            while len(rec.seen) < 5:
                await asyncio.sleep(0.01)
            worker.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(worker.wait, 20)
        assert code == 0
        counts = await _statuses(service)
        sent = len({s.headers["Postback-Id"] for s in rec.seen})
        # Every request that reached the receiver was finished and logged before exit;
        # nothing is left leased to the stopped worker.
        assert counts[DeliveryStatus.DELIVERED] == sent
        assert counts[DeliveryStatus.SENDING] == 0
        assert counts[DeliveryStatus.SCHEDULED] == total - sent
    finally:
        await service.aclose()


async def _leased(pg_url: str) -> int:
    conn = await asyncpg.connect(pg_url)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL")
        )
    finally:
        await conn.close()


async def test_sigterm_gives_back_claimed_deliveries_not_yet_sent(
    pg_url: str, rec: Receiver
) -> None:
    total = 12
    rec.script("/slow", (200, "OK", {}), delay=2.0)
    service = await _setup(pg_url, rec.url("/slow?a={ActionId}"), total)
    # Two sends at once to the receiver: the worker claims all twelve, two are sent, the
    # rest wait for the lane (those beyond two are soon failed unsent: it is slow).
    settings = {"POSTBACK_PER_HOST_CONCURRENCY": "2", "POSTBACK_TOTAL_TIMEOUT": "5"}
    try:
        with workers(pg_url, 1, **settings) as [worker]:
            while len(rec.seen) < 2:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            loop = asyncio.get_running_loop()
            began = loop.time()
            worker.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(worker.wait, 20)
            took = loop.time() - began
        assert code == 0
        assert took < 5, took  # within the total timeout, not after the waiting ones
        assert len(rec.seen) == 2, "a send started after SIGTERM"
        assert await _leased(pg_url) == 0
        counts = await _statuses(service)
        waiting = counts[DeliveryStatus.SCHEDULED]
        assert counts[DeliveryStatus.DELIVERED] == 2 and waiting >= 1, counts
        # Given back, not leased: another worker sends them at once.
        began = loop.time()
        with workers(pg_url, 1, POSTBACK_PER_HOST_CONCURRENCY="50"):
            while len(rec.seen) < 2 + waiting:
                assert loop.time() - began < 15, "the given-back deliveries were not sent"
                await asyncio.sleep(0.05)
        assert len({s.headers["Postback-Id"] for s in rec.seen}) == len(rec.seen)
    finally:
        await service.aclose()


async def _database_away(name: str) -> None:
    """No new connections to the test's database, and every open one ended."""
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
    finally:
        await admin.close()


async def _database_back(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def test_attempts_made_while_the_database_is_away_are_written_when_it_is_back(
    pg_url: str, rec: Receiver, tmp_path: Path
) -> None:
    total = 30
    rec.script("/slow", (200, "OK", {}), delay=1.0)
    service = await _setup(pg_url, rec.url("/slow?a={ActionId}"), total)
    await service.aclose()  # its connections would be cut too
    name = pg_url.rsplit("/", 1)[1]
    log_path = tmp_path / "worker.log"
    # A short lease: had the worker dropped the results, the deliveries would soon be
    # claimed and sent a second time.
    settings = {"POSTBACK_LEASE_SECONDS": "2", "POSTBACK_TOTAL_TIMEOUT": "5"}
    try:
        with log_path.open("wb") as log, workers(pg_url, 1, log, **settings):
            while len(rec.seen) < total:
                await asyncio.sleep(0.01)
            await _database_away(name)  # the replies come while it is away
            await asyncio.sleep(4.0)
            await _database_back(name)
            service = await _setup_view(pg_url)
            loop = asyncio.get_running_loop()
            began = loop.time()
            while (await _statuses(service))[DeliveryStatus.DELIVERED] < total:
                assert loop.time() - began < 20, await _statuses(service)
                await asyncio.sleep(0.1)
            await asyncio.sleep(3.0)  # past the lease: nothing is sent again
    finally:
        await _database_back(name)
        await service.aclose()
    text = log_path.read_text()
    ids = Counter(s.headers["Postback-Id"] for s in rec.seen)
    assert len(ids) == total and max(ids.values()) == 1, f"a delivery was sent twice: {text}"
    assert "holding them until the database takes them" in text, text
    assert "another operation is in progress" not in text, text


async def _setup_view(pg_url: str) -> Service:
    return Service(open_store(pg_url), Settings(database_url=pg_url))


async def test_a_worker_started_while_the_database_is_away_waits_for_it(
    pg_url: str, rec: Receiver, tmp_path: Path
) -> None:
    total = 5
    service = await _setup(pg_url, rec.url("/late?a={ActionId}"), total)
    await service.aclose()
    name = pg_url.rsplit("/", 1)[1]
    log_path = tmp_path / "worker.log"
    try:
        await _database_away(name)
        with log_path.open("wb") as log, workers(pg_url, 1, log) as [worker]:
            await asyncio.sleep(3.0)
            assert worker.poll() is None, log_path.read_text()  # still there, waiting
            await _database_back(name)
            loop = asyncio.get_running_loop()
            began = loop.time()
            while len(rec.seen) < total:
                assert loop.time() - began < 20, log_path.read_text()
                await asyncio.sleep(0.05)
    finally:
        await _database_back(name)
    assert "database not ready at start" in log_path.read_text()
