"""PostgreSQL adapter: any number of API and worker processes share one database.

Claims lock rows with ``FOR UPDATE SKIP LOCKED`` (in the shared SQL); work-making
transactions ``NOTIFY postback_work``; waiting workers ``LISTEN`` on a dedicated raw
asyncpg connection.

The workers' claims and completions (and their next-due query) run on asyncpg pools of
their own, one statement each (:mod:`~postback.storage.pg_queue`); everything else
goes through SQLAlchemy. With ``synchronous_commit=False`` the completions' pool runs
``synchronous_commit = off``: a completion then returns before its WAL reaches the disk,
and a crash of the database can lose the last few hundred milliseconds of them, whose
deliveries are sent again (the receiver tells a resend by its ``Postback-Id``). Claims,
ingest and everything else stay durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from postback.delivery.queue import ALL_DESTINATIONS, AttemptResult, Claim, Destinations
from postback.delivery.ratelimit import plan
from postback.domain.clock import Clock, utcnow
from postback.domain.records import Event, Postback
from postback.errors import Conflict, PostbackError, StoreError
from postback.storage import claim_queries, pg_queue
from postback.storage.claim_queries import Candidate
from postback.storage.interfaces import IngestItem, IngestResult
from postback.storage.sql_store import SQLStore, refused_value

CHANNEL = "postback_work"
CONNECT_TIMEOUT = 10.0
HOT_POOL_SIZE = 8  # a worker claims and writes at once; an API serves several requests
log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def driver_errors() -> AsyncIterator[None]:
    """asyncpg's errors become the store's, as SQLAlchemy's do in ``SQLStore._errors``."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise Conflict(f"the change clashes with stored data: {exc}") from exc
    except asyncpg.DataError as exc:
        raise refused_value(str(exc).split("\n", 1)[0]) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise StoreError(f"database error: {exc}") from exc


async def _keep_session(_conn: Any) -> None:
    """Give a connection back to its pool as it is: the hot path sets no session state,
    and asyncpg's default reset would cost a round trip per use."""


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg understands, from any accepted URL."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


# Every statement here is a short one over indexes. PostgreSQL's JIT compiles a query
# whose *estimated* cost is high (a filter with subqueries over many rows can look so)
# for each execution, which cost 0.8 s of compiling to answer a 30 ms query.
SESSION = {"jit": "off"}
FAST_COMMIT = {"synchronous_commit": "off"}


class PostgresStore(SQLStore):
    """The store over a PostgreSQL database (``postgresql://user@host/db``)."""

    def __init__(self, url: str, clock: Clock = utcnow, synchronous_commit: bool = True) -> None:
        sa_url = make_url(url).set(drivername="postgresql+asyncpg")
        engine = create_async_engine(
            sa_url,
            pool_pre_ping=True,
            connect_args={"timeout": CONNECT_TIMEOUT, "server_settings": SESSION},
        )
        super().__init__(engine, clock)
        self._dsn = asyncpg_dsn(url)
        self._listener: Any = None  # asyncpg.Connection, untyped
        self._durable = synchronous_commit
        self._pools: dict[str, Any] = {}  # "durable", "completions" -> asyncpg.Pool
        self._pools_lock = asyncio.Lock()

    # -- the hot paths: ingest, claim, complete ----------------------------------------

    async def _pool(self, role: str) -> Any:
        """The pool for ``durable`` statements or for ``completions`` (the same one when
        completions are durable too)."""
        role = "durable" if self._durable else role
        pool = self._pools.get(role)
        if pool is None:
            async with self._pools_lock:
                pool = self._pools.get(role)
                if pool is None:
                    settings = SESSION if role == "durable" else {**SESSION, **FAST_COMMIT}
                    pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=HOT_POOL_SIZE,
                        timeout=CONNECT_TIMEOUT,
                        server_settings=settings,
                        reset=_keep_session,
                    )
                    self._pools[role] = pool
        return pool

    @contextlib.asynccontextmanager
    async def _hot(self, role: str) -> AsyncIterator[Any]:
        """A pooled asyncpg connection (errors converted) for one hot-path statement."""
        async with driver_errors():
            pool = await self._pool(role)
            async with pool.acquire() as conn:
                yield conn

    async def claim(
        self,
        worker_id: str,
        now: datetime,
        limit: int,
        lease_seconds: float,
        where: Destinations = ALL_DESTINATIONS,
    ) -> list[Claim]:
        """As :meth:`SQLStore.claim`: one statement leases the due deliveries (leaving
        out ``where.skip``); only when some postback among them has a rate limit does a
        transaction plan the slots. A breaker's probe (``where.only``, one delivery now
        and then) takes the transaction path."""
        if where.only is not None:
            return await super().claim(worker_id, now, limit, lease_seconds, where)
        lease = timedelta(seconds=lease_seconds)
        async with self._hot("durable") as conn:
            found = await pg_queue.lease(conn, worker_id, now, limit, now + lease, skip=where.skip)
        if claim_queries.rate_limited(found):
            return await self._plan_rates(found, worker_id, now, lease)
        return claim_queries.claims(plan(found, {}, now), lease)

    async def _plan_rates(
        self, found: list[Candidate], worker_id: str, now: datetime, lease: timedelta
    ) -> list[Claim]:
        try:
            async with self._write() as conn:
                out = await claim_queries.plan_leased(conn, found, worker_id, now, lease)
        except PostbackError:
            with contextlib.suppress(PostbackError):  # else the leases run out
                await self.release(worker_id, [c.id for c in found])
            raise
        return claim_queries.claims(out, lease)

    async def complete(self, results: Sequence[AttemptResult], again: bool = False) -> None:
        """As :meth:`SQLStore.complete`, in one statement for the usual batch."""
        if again or not pg_queue.fits(results):
            await super().complete(results, again)
            return
        if not results:
            return
        owners = {r.attempt.delivery_id: r.postback_id or "" for r in results}
        found = claim_queries.health(results, owners)
        now = self._clock()
        async with self._hot("completions") as conn:
            states = await pg_queue.complete(conn, results, found, now)
        dying = claim_queries.dead(states, claim_queries.last_failures(found))
        if dying:
            async with self._write() as conn:
                await claim_queries.disable(conn, dying, now)

    async def matching_postbacks_many(self, events: Sequence[Event]) -> list[list[Postback]]:
        """As :meth:`SQLStore.matching_postbacks_many`, on the hot path's pool."""
        if not events:
            return []
        async with self._hot("durable") as conn:
            return await pg_queue.matching_many(conn, events)

    async def ingest(self, items: Sequence[IngestItem]) -> list[IngestResult]:
        """As :meth:`SQLStore.ingest`, in one statement (NOTIFY included)."""
        async with self._hot("durable") as conn:
            results, created = await pg_queue.ingest(conn, items, self._clock(), CHANNEL)
        if created:
            self._work_added()
        return results

    async def next_due_at(self, skip: frozenset[str] = frozenset()) -> datetime | None:
        if skip:
            return await super().next_due_at(skip)
        async with self._hot("durable") as conn:
            return await pg_queue.next_due_at(conn, self._clock())

    async def _notify(self, conn: AsyncConnection) -> None:
        """Delivered to every listener when the transaction commits."""
        await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def _listen(self) -> bool:
        """Make sure the LISTEN connection is up; False if it had to be (re)opened."""
        if self._listener is not None and not self._listener.is_closed():
            return True
        try:
            self._listener = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
            await self._listener.add_listener(CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN for new work (will poll): %s", exc)
            self._listener = None
        return False

    async def wait_for_work(self, max_wait: float) -> None:
        """Return on a NOTIFY from any process, an in-process wake-up, or the timeout.

        The first call (or the first after a lost connection) only starts listening and
        returns at once: work may have arrived while nobody was listening."""
        if not await self._listen():
            if self._listener is None:
                await asyncio.sleep(min(max_wait, 1.0))
            return
        await super().wait_for_work(max_wait)

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.wait_for(pool.close(), 5)
        if self._listener is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._listener.close(timeout=2)
            self._listener = None
        await super().close()
