"""SQLite adapter: one machine, one dispatcher; the single-command setup.

Write transactions start with ``BEGIN IMMEDIATE`` so two writers queue on SQLite's lock
(``busy_timeout``) instead of failing when a read snapshot is upgraded; claims are also
serialised in-process, and waiting workers are woken by an in-process event.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from postback.delivery.queue import ALL_DESTINATIONS, Claim, Destinations
from postback.domain.clock import Clock, utcnow
from postback.storage.sql_store import SQLStore

BUSY_TIMEOUT_MS = 30_000
IMMEDIATE = "postback_begin_immediate"


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (see _on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
    ):
        cursor.execute(pragma)
    cursor.close()
    # lower() folds every letter, as PostgreSQL's does (SQLite's own folds A-Z only), so
    # a case-insensitive search (the partner directory's) finds "Öko" for "öko" too.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(text: str | None) -> str | None:
    return None if text is None else str(text).lower()


def _on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(path: str) -> AsyncEngine:
    """An aiosqlite engine for a file (its folder is created) or ``:memory:``."""
    if path == ":memory:":
        engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    else:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    event.listen(engine.sync_engine, "connect", _on_connect)
    event.listen(engine.sync_engine, "begin", _on_begin)
    return engine


class SQLiteStore(SQLStore):
    """The store over one SQLite file."""

    def __init__(self, path: str, clock: Clock = utcnow) -> None:
        super().__init__(make_engine(path), clock)
        self._immediate = self.engine.execution_options(**{IMMEDIATE: True})
        self._claim_lock = asyncio.Lock()

    def _write_engine(self) -> AsyncEngine:
        return self._immediate

    async def claim(
        self,
        worker_id: str,
        now: datetime,
        limit: int,
        lease_seconds: float,
        where: Destinations = ALL_DESTINATIONS,
    ) -> list[Claim]:
        """As :meth:`SQLStore.claim`, one claim at a time within this process."""
        async with self._claim_lock:
            return await super().claim(worker_id, now, limit, lease_seconds, where)
