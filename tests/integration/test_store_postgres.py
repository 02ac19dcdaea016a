"""PostgreSQL only: several store instances (as in several processes) share one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from postback.domain.records import DeliveryStatus
from postback.errors import StoreError
from postback.storage import open_store
from postback.storage.postgresql import PostgresStore
from tests.integration.test_store_helpers import NOW, SECOND, lifecycle, make_world, put, result

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two independent stores on one fresh database."""
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    await first.migrate()
    await second.migrate()  # a second migrate is a no-op
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_concurrent_claimers_never_share_a_delivery(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    one = pair[0]
    w = await make_world(one)
    pb = await lifecycle(one, w.partner)
    for i in range(60):
        await put(one, pb, f"e{i}", key=f"A{i}")

    async def drain(store: PostgresStore, worker: str) -> list[str]:
        got: list[str] = []
        while claims := await store.claim(worker, NOW, 4, 60):
            got += [c.delivery_id for c in claims]
        return got

    results = await asyncio.gather(*(drain(s, f"w{i}") for i, s in enumerate(pair * 3)))
    claimed = [d for r in results for d in r]
    assert len(claimed) == 60
    assert len(set(claimed)) == 60


async def test_concurrent_claimers_share_one_rate_limit(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    one = pair[0]
    w = await make_world(one)
    pb = await lifecycle(one, w.partner, max_requests_per_second=4.0)
    for i in range(20):
        await put(one, pb, f"e{i}", key=f"A{i}")
    batches = await asyncio.gather(*(s.claim(f"w{i}", NOW, 20, 60) for i, s in enumerate(pair)))
    slots = sorted(c.send_at for batch in batches for c in batch)
    assert slots == [NOW + i * SECOND / 4 for i in range(5)]  # one 1 s horizon at 4/s


async def test_notify_wakes_a_worker_of_another_instance(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    api, worker = pair
    w = await make_world(api)
    pb = await lifecycle(api, w.partner)
    await worker.wait_for_work(5)  # the first call only starts listening
    waiter = asyncio.create_task(worker.wait_for_work(30))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    await put(api, pb, "e1")
    await asyncio.wait_for(waiter, 5)
    [claim] = await worker.claim("w1", NOW, 10, 60)
    await worker.complete([result(claim, DeliveryStatus.DELIVERED)])
    assert (await api.get_delivery(claim.delivery_id, None)).status is DeliveryStatus.DELIVERED


async def test_the_postgres_scheme_is_accepted(pg_url: str) -> None:
    store = open_store(pg_url.replace("postgresql://", "postgres://", 1))
    assert isinstance(store, PostgresStore)
    try:
        await store.migrate()
        assert await store.list_accounts() == []
    finally:
        await store.close()


async def test_an_unreachable_server_is_a_store_error() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(StoreError):
            await store.list_accounts()
    finally:
        await store.close()


async def test_only_completions_skip_the_wal_flush_wait_when_asked(pg_url: str) -> None:
    """With synchronous_commit off, the workers' completions commit without waiting for
    the WAL; claims and ingest still wait. The default waits everywhere."""
    setup = PostgresStore(pg_url)
    await setup.migrate()
    w = await make_world(setup)
    pb = await lifecycle(setup, w.partner)
    await setup.close()
    for durable in (True, False):
        store = open_store(pg_url, synchronous_commit=durable)
        assert isinstance(store, PostgresStore)
        try:
            await put(store, pb, f"e-{durable}", key=f"A-{durable}")
            [claim] = await store.claim("w1", NOW, 10, 60)
            await store.complete([result(claim, DeliveryStatus.DELIVERED)])
            done = await store.get_delivery(claim.delivery_id, None)
            assert done.status is DeliveryStatus.DELIVERED
            settings = {}
            for role in ("durable", "completions"):
                async with store._hot(role) as conn:
                    settings[role] = await conn.fetchval("SHOW synchronous_commit")
            assert settings == {"durable": "on", "completions": "on" if durable else "off"}
        finally:
            await store.close()
