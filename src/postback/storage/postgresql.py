"""PostgreSQL adapter: any number of API and worker processes share one database.

Claims lock rows with ``FOR UPDATE SKIP LOCKED`` (in the shared SQL); work-making
transactions ``NOTIFY postback_work``; waiting workers ``LISTEN`` on a dedicated raw
asyncpg connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from postback.domain.clock import Clock, utcnow
from postback.storage.sql_store import SQLStore

CHANNEL = "postback_work"
CONNECT_TIMEOUT = 10.0
log = logging.getLogger(__name__)


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg understands, from any accepted URL."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class PostgresStore(SQLStore):
    """The store over a PostgreSQL database (``postgresql://user@host/db``)."""

    def __init__(self, url: str, clock: Clock = utcnow) -> None:
        sa_url = make_url(url).set(drivername="postgresql+asyncpg")
        engine = create_async_engine(
            sa_url,
            pool_pre_ping=True,
            connect_args={"timeout": CONNECT_TIMEOUT},
        )
        super().__init__(engine, clock)
        self._dsn = asyncpg_dsn(url)
        self._listener: Any = None  # asyncpg.Connection, untyped

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
        if self._listener is not None:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._listener.close(timeout=2)
            self._listener = None
        await super().close()
