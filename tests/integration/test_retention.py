"""Retention on both databases: old attempts counted, deleted in batches (recent ones and
their replies kept), one pruning process at a time on PostgreSQL, each batch an index
scan there; the job giving way while the worker is busy; `postback prune [--dry-run]`
on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

from aiohttp import web
from sqlalchemy import text
from typer.testing import CliRunner

from postback.cli.app import app
from postback.config import Settings
from postback.delivery import retention
from postback.delivery.transport import AioHttpTransport
from postback.delivery.worker import Worker, WorkerOptions
from postback.domain.records import DeliveryStatus, Event, EventTopic
from postback.storage import open_store, retention_queries
from postback.storage.interfaces import IngestItem
from postback.storage.retention_queries import LOCK_KEY
from postback.storage.sql_store import SQLStore
from postback.testing import LocalResolver
from tests.integration.test_store_helpers import (
    NOW,
    delivery_for,
    lifecycle,
    make_world,
    put,
    request,
    result,
)

LOCAL = (ip_network("127.0.0.0/8"),)

DAY = timedelta(days=1)


async def _attempts_at(store: SQLStore, *days_ago: int) -> list[str]:
    """One delivery per entry, its one attempt started that many days before NOW."""
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    ids = []
    for n, ago in enumerate(days_ago):
        at = NOW - ago * DAY
        await put(store, pb, f"e{n}", key=f"A{n}", at=at)
        [claim] = await store.claim("w1", at, 1, 60)
        await store.complete([result(claim, DeliveryStatus.DELIVERED, at)])
        ids.append(claim.delivery_id)
    return ids


async def test_old_attempts_are_counted_and_deleted_in_batches(store: SQLStore) -> None:
    ids = await _attempts_at(store, 40, 35, 31, 2, 0)
    before = retention.cutoff(NOW, 30)
    assert await store.count_old_attempts(before) == 3
    assert await retention.prune(store, before, batch=2, pause=0) == 3
    assert await store.count_old_attempts(before) == 0
    found = [(await store.get_delivery(i, None)).attempts for i in ids]
    assert [len(a) for a in found] == [0, 0, 0, 1, 1]  # the deliveries stay
    for [attempt] in found[3:]:  # the recent attempts keep their stored replies
        assert attempt.reply is not None and attempt.reply.body == b"ok"
    assert await retention.prune(store, before) == 0


async def test_one_process_prunes_at_a_time_on_postgresql(pg_url: str) -> None:
    store = open_store(pg_url)
    assert isinstance(store, SQLStore)
    await store.migrate()
    try:
        await _attempts_at(store, 40)
        before = retention.cutoff(NOW, 30)
        async with store.engine.begin() as conn:  # another worker, mid-batch
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
            assert await retention.prune(store, before) is None
        assert await retention.prune(store, before) == 1
    finally:
        await store.close()


async def test_prune_command_says_what_would_go_and_what_went(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prune.db'}"
    store = open_store(url)
    await store.migrate()
    assert isinstance(store, SQLStore)
    await _attempts_at(store, 400, 380, 0)  # NOW is in 2026-03; "now" is later
    await store.close()
    env = {"POSTBACK_DATABASE_URL": url}

    def run(*args: str) -> str:
        out = CliRunner().invoke(app, ["prune", *args], env=env)
        assert out.exit_code == 0, out.output
        return out.output

    days = str((datetime.now(UTC) - NOW).days + 10)  # the cut-off falls 10 days before NOW
    dry = await asyncio.to_thread(run, "--dry-run", "--days", days)
    assert dry.startswith("would delete 2 attempts started before ")
    assert (await asyncio.to_thread(run, "--days", days)).startswith("deleted 2 attempts")
    assert (await asyncio.to_thread(run, "--dry-run", "--days", days)).startswith(
        "would delete 0 attempts"
    )


async def test_the_workers_job_prunes_until_stopped(store: SQLStore) -> None:
    await _attempts_at(store, 400, 0)
    days = (datetime.now(UTC) - NOW).days + 10
    settings = Settings(retention_days=days, retention_interval=0.05)
    stop = asyncio.Event()
    job = asyncio.create_task(retention.run_periodically(store, settings, stop))
    before = retention.cutoff(datetime.now(UTC), days)
    for _ in range(100):
        if await store.count_old_attempts(before) == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(job, 5)
    assert await store.count_old_attempts(before) == 0
    assert await store.count_old_attempts(datetime.now(UTC)) == 1  # the recent one stays


async def test_a_batch_on_postgresql_is_an_index_scan_and_commits_without_waiting(
    pg_url: str,
) -> None:
    """20,000 attempts: few enough that PostgreSQL planned the former ``id IN (subquery)``
    as a scan of the whole table for every batch."""
    store = open_store(pg_url)
    assert isinstance(store, SQLStore)
    await store.migrate()
    try:
        [one] = await _attempts_at(store, 40)
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, "
                "request_headers, reply_truncated, outcome) SELECT $1, 2, "
                "now() - make_interval(days => 100, secs => i), 1.0, '[]', false, 'delivered' "
                "FROM generate_series(1, 20000) AS s(i)",
                (one,),
            )
            await conn.exec_driver_sql("ANALYZE attempts")
        before = retention.cutoff(datetime.now(UTC), 30)
        async with store.engine.begin() as conn:
            plan = await conn.execute(
                text("EXPLAIN " + str(retention_queries.PG_DELETE)),
                {"before": before, "limit": 500},
            )
            lines = "\n".join(row[0] for row in plan)
            assert "Index Scan using pk_attempts on attempts" in lines, lines
            assert "Seq Scan" not in lines, lines
            assert await retention_queries.delete_old(conn, before, 500) == 500
            # the batch's own transaction commits without waiting for the WAL flush ...
            assert (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar() == "off"
        async with store.engine.begin() as conn:  # ... and only that transaction
            assert (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar() == "on"
        assert await retention.prune(store, before, pause=0) == 20_000 + 1 - 500
        assert await store.count_old_attempts(before) == 0
    finally:
        await store.close()


async def test_the_job_gives_way_while_the_worker_is_busy(store: SQLStore) -> None:
    await _attempts_at(store, 40, 39, 38, 37, 36)
    before = retention.cutoff(NOW, 30)
    busy = True
    job = asyncio.create_task(
        retention.prune(store, before, batch=2, pause=0.01, busy=lambda: busy, busy_pause=3600)
    )
    while await store.count_old_attempts(before) == 5:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # time enough for more batches, were it not waiting
    assert await store.count_old_attempts(before) == 3 and not job.done()
    busy = False
    assert await asyncio.wait_for(job, 10) == 5
    assert await store.count_old_attempts(before) == 0


async def test_the_worker_is_busy_while_more_is_due_than_it_can_send(store: SQLStore) -> None:
    """Five due deliveries, four slots: with four sends held at the receiver the worker
    is busy; once they are answered and the fifth is sent, it is not."""
    gate, seen = asyncio.Event(), []

    async def held(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        await gate.wait()
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/held", held)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    now = datetime.now(UTC)
    for n in range(5):
        url = f"http://127.0.0.1:{port}/held?n={n}"
        event = Event(f"e{n}", EventTopic.ACTION_TRACKED, now, {"k": n})
        new = replace(delivery_for(pb, f"K{n}", now), request=request(url))
        await store.ingest([IngestItem(event, (new,))])
    transport = AioHttpTransport(Settings(allowed_networks=LOCAL), LocalResolver())
    worker = Worker(store, transport, WorkerOptions(batch=2, concurrency=4, idle_wait=0.05))
    assert not worker.busy()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        assert await _within(lambda: len(seen) == 4)
        assert worker.busy()  # every slot taken, and one more is due
        gate.set()
        assert await _within(lambda: len(seen) == 5 and not worker.busy())
    finally:
        gate.set()
        stop.set()
        await asyncio.wait_for(task, 10)
        await transport.close()
        await runner.cleanup()


async def _within(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Poll ``check`` until it holds (True) or ``seconds`` pass (False)."""
    end = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > end:
            return False
        await asyncio.sleep(0.01)
    return True
