"""Retention on both databases: old attempts counted, deleted in batches, one pruning
process at a time on PostgreSQL; `postback prune [--dry-run]` on a real SQLite file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from postback.cli.app import app
from postback.config import Settings
from postback.delivery import retention
from postback.domain.records import DeliveryStatus
from postback.storage import open_store
from postback.storage.retention_queries import LOCK_KEY
from postback.storage.sql_store import SQLStore
from tests.integration.test_store_helpers import NOW, lifecycle, make_world, put, result

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
    kept = [len((await store.get_delivery(i, None)).attempts) for i in ids]
    assert kept == [0, 0, 0, 1, 1]  # the deliveries stay; their old attempts went
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
