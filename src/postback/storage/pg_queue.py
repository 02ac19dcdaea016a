"""PostgreSQL's hot paths on asyncpg: one statement each to ingest, claim and complete.

Each is a single statement, so it commits by itself: no BEGIN and COMMIT round trips,
no pooled-connection ping, no per-row parameter processing, and asyncpg prepares each
text once per connection. The claim locks the due rows (``FOR UPDATE SKIP LOCKED``),
leases them and returns them with their postbacks' terms; its selection is compiled
from :mod:`~postback.storage.claim_queries`, so it takes the same deliveries in the
same order as the statement-by-statement form. The completion takes one array per
column and, in one go, logs the attempts, moves the deliveries on (only where the
lease is still the worker's) and updates the postbacks' health, returning what is
needed to decide on disabling one. A claim may leave destinations out (open circuit
breakers, slow lanes) as one text array. Rate limits, a breaker's probe, a batch
written again and requests rendered anew are rarer and go through ``claim_queries``
(see ``PostgresStore``).

Ingest matches a batch's events (one query per match key, as
:mod:`~postback.storage.postback_queries` builds it), then stores its new events and
their deliveries (in batch order, which numbers them) and wakes the workers in one
statement; repeated event ids are looked up after it only when there are some.

Rows found by id use ``id = ANY(array)``, so each stays a primary-key probe whatever
the statistics say (a join with the array alone was once planned as a sequential scan
nested with it, quadratic in the batch).
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, all_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from postback.delivery.queue import AttemptResult
from postback.domain.records import DeliveryStatus, Event, Postback
from postback.storage import claim_queries, delivery_queries, postback_queries, rows
from postback.storage.claim_queries import CLAIM_COLUMNS, NOW, Candidate, Health
from postback.storage.interfaces import IngestItem, IngestResult
from postback.storage.postback_queries import MatchKey
from postback.storage.sql import deliveries

D = deliveries.c


@functools.cache
def _row_type(names: tuple[str, ...]) -> Any:
    return collections.namedtuple("Row", names)


def _tuples(found: list[Any]) -> list[Any]:
    """Records as named tuples, whose columns read as attributes as SQLAlchemy's rows'
    do (so the conversions in :mod:`~postback.storage.rows` take either), at a
    fraction of the cost of a ``__getattr__`` on a record."""
    if not found:
        return []
    make = _row_type(tuple(found[0].keys()))._make
    return [make(r.values()) for r in found]


def _driver_sql(stmt: Any, *given: str) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A Core statement as asyncpg's ``$n`` text, its parameter names in order, and the
    values of the parameters the statement fixes itself (literals, ``OFFSET 0``);
    ``given`` names the parameters each execution passes."""
    compiled = stmt.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    state = compiled.construct_expanded_state(dict.fromkeys(given))
    return state.statement, tuple(state.positiontup or ()), dict(state.parameters)


def _lease_statement(skipping: bool = False) -> Any:
    ids = claim_queries.due_ids()
    if skipping:
        # One text array, where the statement-by-statement form expands a list: one
        # prepared statement serves any number of destinations left out.
        left_out = D.destination != all_(bindparam("skip", type_=ARRAY(Text)))
        ids = ids.where(or_(D.destination.is_(None), left_out))
    due = ids.cte("due")
    leased = (
        update(deliveries)
        .where(D.id.in_(select(due.c.id)))
        .values(lease_owner=bindparam("worker"), lease_until=bindparam("until"), updated_at=NOW)
        .returning(*CLAIM_COLUMNS)
        .cte("leased")
    )
    return claim_queries.with_terms(leased)


CLAIM, _CLAIM_NAMES, _CLAIM_FIXED = _driver_sql(
    _lease_statement(), "worker", "until", "now", "limit"
)
# Leaving out destinations whose circuit breaker is open or whose lane is slow.
SKIPPING, _SKIPPING_NAMES, _SKIPPING_FIXED = _driver_sql(
    _lease_statement(skipping=True), "worker", "until", "now", "limit", "skip"
)


def _args(names: tuple[str, ...], fixed: dict[str, Any], given: dict[str, Any]) -> list[Any]:
    return [given[n] if n in given else fixed[n] for n in names]


async def lease(
    conn: Any,
    worker_id: str,
    now: datetime,
    limit: int,
    until: datetime,
    *,
    skip: frozenset[str] = frozenset(),
) -> list[Candidate]:
    """Lease up to ``limit`` due deliveries (to destinations not in ``skip``) to
    ``worker_id`` until ``until``, in claim order, each with its postback's terms."""
    given = {"now": now, "limit": max(1, limit), "worker": worker_id, "until": until}
    if skip:
        given["skip"] = sorted(skip)
        args = _args(_SKIPPING_NAMES, _SKIPPING_FIXED, given)
        found = await conn.fetch(SKIPPING, *args)
    else:
        found = await conn.fetch(CLAIM, *_args(_CLAIM_NAMES, _CLAIM_FIXED, given))
    return claim_queries.candidates(_tuples(found), now)


# Every column the hot paths pass as an array that is not text.
_TYPE_OF = {
    "number": "int",
    "started_at": "timestamptz",
    "duration_ms": "float8",
    "reply_status": "int",
    "reply_body": "bytea",
    "reply_truncated": "bool",
    "next_due": "timestamptz",
    "occurred_at": "timestamptz",
    "received_at": "timestamptz",
    "deliveries_created": "int",
    "event_occurred_at": "timestamptz",
    "due_at": "timestamptz",
    "attempt_count": "int",
    "round_attempts": "int",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "postback_version": "int",
}
_COLUMNS = (*claim_queries.ATTEMPT_COLUMNS, "status", "next_due", "last_error", "worker")
_TYPES = tuple(_TYPE_OF.get(c, "text") for c in _COLUMNS)
_N = len(_COLUMNS)
_ATTEMPTS = ", ".join(claim_queries.ATTEMPT_COLUMNS)
_ARRAYS = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_TYPES))
# Built from the constants above, never from input.
COMPLETE = f"""
WITH r AS (
    SELECT * FROM unnest({_ARRAYS}) AS r({", ".join(_COLUMNS)})
), logged AS (
    INSERT INTO attempts ({_ATTEMPTS}) SELECT {_ATTEMPTS} FROM r
), moved AS (
    UPDATE deliveries d SET status = r.status, attempt_count = d.attempt_count + 1,
        round_attempts = d.round_attempts + 1, due_at = COALESCE(r.next_due, d.due_at),
        last_error = r.last_error, lease_owner = NULL, lease_until = NULL,
        updated_at = ${_N + 1}
    FROM r WHERE d.id = ANY($1::text[]) AND d.id = r.delivery_id AND d.lease_owner = r.worker
), locked AS (
    SELECT id FROM postbacks WHERE id = ANY(${_N + 2}::text[]) ORDER BY id FOR UPDATE
)
UPDATE postbacks p SET
    last_success_at = CASE
        WHEN h.ok IS NOT NULL AND (p.last_success_at IS NULL OR p.last_success_at < h.ok)
        THEN h.ok ELSE p.last_success_at END,
    failing_since = CASE WHEN h.ok IS NULL THEN COALESCE(p.failing_since, h.fail) ELSE h.fail END
FROM unnest(${_N + 2}::text[], ${_N + 3}::timestamptz[], ${_N + 4}::timestamptz[])
    AS h(id, ok, fail)
WHERE p.id IN (SELECT id FROM locked) AND p.id = h.id
RETURNING p.id, p.owner_id, p.name, p.failing_since, p.disabled_reason
"""  # noqa: S608


def fits(results: Sequence[AttemptResult]) -> bool:
    """Whether one statement can complete the batch: each delivery once, its postback
    known, no request rendered anew."""
    ids = {r.attempt.delivery_id for r in results}
    return (
        len(ids) == len(results)
        and all(r.postback_id for r in results)
        and all(r.rendered is None for r in results)
    )


def _columns(results: Sequence[AttemptResult]) -> list[list[Any]]:
    attempt = claim_queries.ATTEMPT_COLUMNS
    values = [
        (
            *map(rows.attempt_values(r.attempt, same_as_delivery=True).__getitem__, attempt),
            r.status.value,
            r.next_due_at if r.status is DeliveryStatus.RETRYING else None,
            claim_queries.last_error(r),
            r.worker_id,
        )
        for r in results
    ]
    return [list(column) for column in zip(*values, strict=True)]


async def complete(
    conn: Any, results: Sequence[AttemptResult], found: dict[str, Health], now: datetime
) -> list[Any]:
    """Log the attempts, move the deliveries on and record each postback's health (as
    ``found`` says); the postbacks rows, for :func:`claim_queries.dead`."""
    pids = sorted(found)
    ok = [found[p].success for p in pids]
    fail = [found[p].failing_since() for p in pids]
    return _tuples(await conn.fetch(COMPLETE, *_columns(results), now, pids, ok, fail))


NEXT_DUE, _NEXT_NAMES, _NEXT_FIXED = _driver_sql(claim_queries.NEXT_DUE, "now")


async def next_due_at(conn: Any, now: datetime) -> datetime | None:
    """As :func:`claim_queries.next_due_at`, on an asyncpg connection."""
    row = await conn.fetchrow(NEXT_DUE, *_args(_NEXT_NAMES, _NEXT_FIXED, {"now": now}))
    return min((t for t in (row["waiting"], row["leased"]) if t is not None), default=None)


# -- ingest ------------------------------------------------------------------------------


@functools.cache
def _matching(shape: MatchKey) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    return _driver_sql(postback_queries.matching_statement(shape), *shape.params())


async def matching_many(conn: Any, events: Sequence[Event]) -> list[list[Postback]]:
    """As :func:`postback_queries.matching_many`, on an asyncpg connection."""
    keys = [postback_queries.match_key(e) for e in events]
    found = {}
    for key in dict.fromkeys(keys):
        sql, names, fixed = _matching(key.shape())
        matched = await conn.fetch(sql, *_args(names, fixed, key.params()))
        found[key] = [rows.postback(r) for r in _tuples(matched)]
    return [list(found[key]) for key in keys]


_EVENT_TYPES = {c: _TYPE_OF.get(c, "text") for c in delivery_queries.EVENT_COLUMNS}
# Columns every new delivery of a batch has the same value in (zeros, the batch's time,
# no original) go as one value each: asyncpg checks every element of an array it sends
# with a few isinstance calls, which made the arrays a quarter of the API's CPU.
_SAME = ("attempt_count", "round_attempts", "created_at", "updated_at", "original_id")
_DELIVERY_TYPES = {
    c: _TYPE_OF.get(c, "text") for c in delivery_queries.DELIVERY_COLUMNS if c not in _SAME
}
_SAME_TYPES = {c: _TYPE_OF.get(c, "text") for c in _SAME}
_DELIVERY_INDEX = [delivery_queries.DELIVERY_COLUMNS.index(c) for c in _DELIVERY_TYPES]
_SAME_INDEX = [delivery_queries.DELIVERY_COLUMNS.index(c) for c in _SAME]


def _unnest(types: dict[str, str], first: int) -> str:
    arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types.values()))
    return f"unnest({arrays}) WITH ORDINALITY AS r({', '.join(types)}, n)"


_E = ", ".join(_EVENT_TYPES)
_D = ", ".join(_DELIVERY_TYPES)
_FIRST_SAME = len(_EVENT_TYPES) + len(_DELIVERY_TYPES) + 1
_S = ", ".join(f"${_FIRST_SAME + i}::{t}" for i, t in enumerate(_SAME_TYPES.values()))
_CHANNEL = _FIRST_SAME + len(_SAME)
INGEST = f"""
WITH e AS (
    INSERT INTO events ({_E}) SELECT {_E} FROM {_unnest(_EVENT_TYPES, 1)}
    ON CONFLICT (id) DO NOTHING RETURNING id
), d AS (
    INSERT INTO deliveries ({_D}, {", ".join(_SAME)})
    SELECT {_D}, {_S} FROM {_unnest(_DELIVERY_TYPES, len(_EVENT_TYPES) + 1)}
    WHERE event_id IN (SELECT id FROM e) ORDER BY n
    RETURNING 1
)
SELECT (SELECT array_agg(id) FROM e) AS stored,
    (SELECT count(*) FROM (SELECT pg_notify(${_CHANNEL}, '') FROM (SELECT 1 FROM d LIMIT 1) x) y)
    AS notified
"""  # noqa: S608
_KNOWN = "SELECT id, received_at, deliveries_created FROM events WHERE id = ANY($1::text[])"


def _arrays(values: list[tuple[Any, ...]], width: int) -> list[Any]:
    """One array per column of the rows (none when there are no rows)."""
    return list(zip(*values, strict=True)) if values else [()] * width


def _delivery_arrays(values: list[tuple[Any, ...]]) -> list[Any]:
    """An array per column that differs between the rows, then the value of each of
    ``_SAME`` (taken from the first row; None for every one when there are none)."""
    columns = _arrays(values, len(delivery_queries.DELIVERY_COLUMNS))
    same = [values[0][i] for i in _SAME_INDEX] if values else [None] * len(_SAME)
    return [columns[i] for i in _DELIVERY_INDEX] + same


async def ingest(
    conn: Any, items: Sequence[IngestItem], now: datetime, channel: str
) -> tuple[list[IngestResult], bool]:
    """Store the batch's new events and their deliveries; NOTIFY ``channel`` when that
    made work. The results, and whether it did."""
    first = delivery_queries.first_items(items)
    if not first:
        return [], False
    event_rows = delivery_queries.event_rows(first, now)
    delivery_rows = delivery_queries.delivery_rows(first, None, now)
    row = await conn.fetchrow(
        INGEST,
        *_arrays(event_rows, len(_EVENT_TYPES)),
        *_delivery_arrays(delivery_rows),
        channel,
    )
    stored = set(row["stored"] or ())
    repeated = [e for e in first if e not in stored]
    known = {}
    if repeated:
        found = await conn.fetch(_KNOWN, repeated)
        known = {r["id"]: (r["received_at"], r["deliveries_created"]) for r in found}
    results = delivery_queries.ingest_results(items, first, stored, known, now)
    return results, bool(row["notified"])
