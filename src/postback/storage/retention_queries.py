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
# The same round trip makes this transaction's commit not wait for its WAL to reach the
# disk, so the job's commits do not queue with the senders' for the flush: a batch lost
# in a crash is only deleted again by the next run.
LOCK = text("SELECT pg_try_advisory_xact_lock(:key), set_config('synchronous_commit', 'off', true)")

LIMIT = bindparam("limit", type_=Integer())

_OLD = select(A.id).where(A.started_at < BEFORE)
COUNT = select(func.count()).select_from(_OLD.subquery())
# Rows found by the started_at index, deleted by primary key: a batch touches only them.
DELETE = delete(attempts).where(A.id.in_(_OLD.order_by(A.started_at).limit(LIMIT)))
# PostgreSQL may plan ``id IN (subquery)`` as a hash join over a scan of the whole table
# (it did at 33,000 rows: 3 ms a batch); ``= ANY(ARRAY(...))`` makes the batch's ids one
# value, so the delete is always a primary-key index scan (0.7 ms).
PG_DELETE = text(
    "DELETE FROM attempts WHERE id = ANY(ARRAY("
    "SELECT id FROM attempts WHERE started_at < :before ORDER BY started_at LIMIT :limit))"
).bindparams(BEFORE, LIMIT)


async def count_old(conn: AsyncConnection, before: datetime) -> int:
    """How many attempts started before ``before``."""
    return int((await conn.execute(COUNT, {"before": before})).scalar_one())


async def delete_old(conn: AsyncConnection, before: datetime, limit: int) -> int | None:
    """Delete up to ``limit`` attempts started before ``before``; None when another
    process holds the retention lock (PostgreSQL), so this one leaves the work to it."""
    params = {"before": before, "limit": limit}
    if conn.dialect.name != "postgresql":
        return int((await conn.execute(DELETE, params)).rowcount or 0)
    locked = await conn.execute(LOCK, {"key": LOCK_KEY})
    if not locked.scalar_one():
        return None
    return int((await conn.execute(PG_DELETE, params)).rowcount or 0)
