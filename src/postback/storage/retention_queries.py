"""SQL for retention: old attempts counted, or deleted in small batches.

Attempts (with their reply bodies) older than a cut-off; on PostgreSQL one process at a
time deletes (an advisory lock)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, bindparam, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.storage.sql import UTCDateTime, attempts

A = attempts.c
BEFORE = bindparam("before", type_=UTCDateTime())
#: Any constant will do; it names "the retention job" among the database's advisory locks.
LOCK_KEY = 0x706F73746261636B  # "postback"

_OLD = select(A.id).where(A.started_at < BEFORE)
COUNT = select(func.count()).select_from(_OLD.subquery())
# Rows found by the started_at index, deleted by primary key: a batch touches only them.
DELETE = delete(attempts).where(
    A.id.in_(_OLD.order_by(A.started_at).limit(bindparam("limit", type_=Integer())))
)


async def count_old(conn: AsyncConnection, before: datetime) -> int:
    """How many attempts started before ``before``."""
    return int((await conn.execute(COUNT, {"before": before})).scalar_one())


async def delete_old(conn: AsyncConnection, before: datetime, limit: int) -> int | None:
    """Delete up to ``limit`` attempts started before ``before``; None when another
    process holds the retention lock (PostgreSQL), so this one leaves the work to it."""
    if conn.dialect.name == "postgresql":
        locked = await conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}
        )
        if not locked.scalar_one():
            return None
    result = await conn.execute(DELETE, {"before": before, "limit": limit})
    return int(result.rowcount or 0)
