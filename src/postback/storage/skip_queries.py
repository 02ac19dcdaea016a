"""SQL for a destination whose circuit breaker is open: its due deliveries move to the
probe time in bulk, each with a *skipped* attempt in the log, instead of being claimed
one by one.

A skipped attempt takes the next number in the delivery's log (``attempt_count``) but
not a try of its retry schedule (``round_attempts`` stays), and says why in ``error``;
nothing was sent, so it has no reply and no request headers. On PostgreSQL the rows are
picked ``FOR UPDATE SKIP LOCKED`` (as a claim would), moved and logged in one statement;
SQLite, with one writer at a time, logs and then moves the same rows in two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Text, bindparam, false, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.delivery.queue import Skip
from postback.domain.records import DeliveryStatus
from postback.storage import claim_queries
from postback.storage.sql import UTCDateTime, attempts, deliveries

D = deliveries.c
SKIPPED = "skipped"
_LOGGED = (
    "delivery_id",
    "number",
    "started_at",
    "duration_ms",
    "request_headers",
    "reply_truncated",
    "outcome",
    "error",
    "postback_version",
)
_NOW = claim_queries.NOW
_ERROR: Any = bindparam("b_error", type_=Text())
_MOVED = {
    "status": DeliveryStatus.RETRYING.value,
    "attempt_count": D.attempt_count + 1,
    "due_at": bindparam("b_until", type_=UTCDateTime()),
    "last_error": _ERROR,
    "lease_owner": None,
    "lease_until": None,
    "updated_at": _NOW,
}


def _due_ids() -> Any:
    """The destination's due deliveries, oldest first, as a claim would take them."""
    return (
        select(D.id)
        .where(D.destination == bindparam("b_destination"), *claim_queries.claimable())
        .order_by(D.due_at, D.seq)
        .limit(bindparam("limit", type_=Integer()))
    )


def _logged(number: Any, delivery_id: Any, version: Any) -> Any:
    return select(
        delivery_id,
        number,
        _NOW,
        literal(0.0),
        literal("[]"),
        false(),
        literal(SKIPPED),
        _ERROR,
        version,
    )


def _postgres_statement() -> Any:
    picked = _due_ids().with_for_update(skip_locked=True).cte("picked")
    moved = (
        update(deliveries)
        .where(D.id == picked.c.id)
        .values(**_MOVED)
        .returning(D.id, D.attempt_count, D.postback_version)
        .cte("moved")
    )
    rows = _logged(moved.c.attempt_count, moved.c.id, moved.c.postback_version)
    return insert(attempts).from_select(_LOGGED, rows)


PG_SKIP = _postgres_statement()
SQLITE_LOG = insert(attempts).from_select(
    _LOGGED,
    _logged(D.attempt_count + 1, D.id, D.postback_version).where(D.id.in_(_due_ids())),
)
SQLITE_MOVE = update(deliveries).where(D.id.in_(_due_ids())).values(**_MOVED)


async def skip_destination(conn: AsyncConnection, skip: Skip, now: datetime, limit: int) -> int:
    """Give back ``skip.claimed``, then move up to ``limit`` due deliveries of the
    destination to ``skip.until`` with a skipped attempt each; how many moved."""
    if skip.claimed:
        await claim_queries.release(conn, skip.worker_id, skip.claimed)
    params = {
        "b_destination": skip.destination,
        "now": now,
        "b_until": skip.until,
        "b_error": skip.error,
        "limit": limit,
    }
    if conn.dialect.name == "postgresql":
        return int((await conn.execute(PG_SKIP, params)).rowcount or 0)
    logged = await conn.execute(SQLITE_LOG, params)
    await conn.execute(SQLITE_MOVE, params)
    return int(logged.rowcount or 0)
