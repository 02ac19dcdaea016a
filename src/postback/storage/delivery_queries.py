"""SQL for events and deliveries as owners see them: ingest, the log, redeliver, replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.delivery.breaker import destination
from postback.delivery.redact import redact
from postback.domain.records import Delivery, DeliveryStatus, Event, NewDelivery, Replay
from postback.errors import Conflict, NotFound
from postback.storage import bulk, rows
from postback.storage.interfaces import DeliveryFilter, IngestItem, IngestResult, Notice, Page
from postback.storage.sql import attempts, deliveries, events, notices, postbacks, replays

D = deliveries.c
FINAL = (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value)


def dialect_insert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ``ON CONFLICT`` for the connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


DELIVERY_COLUMNS = (
    "id",
    "postback_id",
    "owner_id",
    "event_id",
    "event_occurred_at",
    "method",
    "url",
    "destination",
    "headers",
    "body",
    "status",
    "last_error",
    "due_at",
    "order_key",
    "action_id",
    "attempt_count",
    "round_attempts",
    "created_at",
    "updated_at",
    "postback_version",
    "original_id",
)
_INSERT_DELIVERY = deliveries.insert().values({c: bindparam(c) for c in DELIVERY_COLUMNS})
# SQLite takes MAX(seq) + 1 inside the INSERT, atomic as SQLite runs one writer at a time.
_INSERT_DELIVERY_SQLITE = _INSERT_DELIVERY.values(
    seq=select(func.coalesce(func.max(D.seq), 0) + 1).scalar_subquery()
)


def _delivery_insert(conn: AsyncConnection) -> Insert:
    """PostgreSQL numbers rows by identity; SQLite by ``MAX(seq) + 1``."""
    return _INSERT_DELIVERY_SQLITE if conn.dialect.name == "sqlite" else _INSERT_DELIVERY


EVENT_COLUMNS = ("id", "type", "occurred_at", "data", "received_at", "deliveries_created")


def event_values(event: Event, count: int, now: datetime) -> tuple[Any, ...]:
    """An events row, in ``EVENT_COLUMNS`` order."""
    received = event.received_at or now
    return (event.id, event.type.value, event.occurred_at, rows.dump(event.data), received, count)


def delivery_values(
    event_id: str,
    occurred_at: datetime,
    new: NewDelivery,
    now: datetime,
    original_id: str | None = None,
) -> tuple[Any, ...]:
    """A new deliveries row, in ``DELIVERY_COLUMNS`` order (``original_id``: the delivery
    a resend as sent copies)."""
    req = new.request
    status = DeliveryStatus.SCHEDULED if new.failure is None else DeliveryStatus.FAILED
    return (
        rows.new_id("dlv"),
        new.postback_id,
        new.owner_id,
        event_id,
        occurred_at,
        req.method.value,
        req.url,
        destination(req.url),
        rows.dump_pairs(req.headers),
        req.body,
        status.value,
        new.failure,
        new.due_at,
        new.order_key,
        new.action_id,
        0,
        0,
        now,
        now,
        new.postback_version,
        original_id,
    )


def first_items(items: Sequence[IngestItem]) -> dict[str, IngestItem]:
    """Each event id's first item in the batch (a repeat within it creates nothing)."""
    first: dict[str, IngestItem] = {}
    for item in items:
        first.setdefault(item.event.id, item)
    return first


def event_rows(first: dict[str, IngestItem], now: datetime) -> list[tuple[Any, ...]]:
    return [event_values(i.event, len(i.deliveries), now) for i in first.values()]


def delivery_rows(
    first: dict[str, IngestItem], stored: set[str] | None, now: datetime
) -> list[tuple[Any, ...]]:
    """The deliveries of the events ``stored`` now (None: of every first item), in
    batch order."""
    return [
        delivery_values(item.event.id, item.event.occurred_at, d, now)
        for eid, item in first.items()
        if stored is None or eid in stored
        for d in item.deliveries
    ]


async def ingest(
    conn: AsyncConnection, items: Sequence[IngestItem], now: datetime
) -> list[IngestResult]:
    """Insert new events and their deliveries in bulk; report known ids as duplicates."""
    first = first_items(items)
    if not first:
        return []
    stmt = (
        dialect_insert(conn, events)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(events.c.id)
    )
    event_dicts = [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in event_rows(first, now)]
    inserted = set((await conn.execute(stmt, event_dicts)).scalars())
    new_rows = delivery_rows(first, inserted, now)
    await bulk.execute_many(
        conn,
        _delivery_insert(conn),
        [dict(zip(DELIVERY_COLUMNS, r, strict=True)) for r in new_rows],
    )
    known = await _stored_counts(conn, [e for e in first if e not in inserted])
    return ingest_results(items, first, inserted, known, now)


def ingest_results(
    items: Sequence[IngestItem],
    first: dict[str, IngestItem],
    inserted: set[str],
    known: dict[str, tuple[datetime, int]],
    now: datetime,
) -> list[IngestResult]:
    """One result per item: stored, or a duplicate naming the event first stored."""
    results: list[IngestResult] = []
    for item in items:
        eid = item.event.id
        fresh = eid in inserted and first[eid] is item
        if fresh:
            results.append(IngestResult(eid, duplicate=False, deliveries=len(item.deliveries)))
            continue
        # A repeat creates nothing; it names the event first stored under its id.
        received, count = known.get(eid, (now, len(first[eid].deliveries)))
        results.append(
            IngestResult(
                eid,
                duplicate=True,
                deliveries=0,
                original_received_at=received,
                original_deliveries=count,
            )
        )
    return results


async def _stored_counts(conn: AsyncConnection, ids: list[str]) -> dict[str, tuple[datetime, int]]:
    if not ids:
        return {}
    result = await conn.execute(
        select(events.c.id, events.c.received_at, events.c.deliveries_created).where(
            events.c.id.in_(ids)
        )
    )
    return {r.id: (r.received_at, r.deliveries_created) for r in result}


async def get_event(conn: AsyncConnection, event_id: str) -> Event:
    row = (await conn.execute(select(events).where(events.c.id == event_id))).first()
    if row is None:
        raise NotFound(f"event {event_id} not found")
    return rows.event(row)


def status_is(status: DeliveryStatus) -> ColumnElement[bool]:
    """Deliveries in ``status``: "sending" is a waiting row under a lease (a lease does
    not change the stored status; see dispatch), the others are stored as they are."""
    if status is DeliveryStatus.SENDING:
        return D.lease_owner.is_not(None)
    if status in (DeliveryStatus.SCHEDULED, DeliveryStatus.RETRYING):
        return and_(D.status == status.value, D.lease_owner.is_(None))
    return D.status == status.value


def filters(owner_id: str | None, flt: DeliveryFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a delivery filter, scoped to an owner."""
    where: list[ColumnElement[bool]] = []
    if owner_id is not None:
        where.append(D.owner_id == owner_id)
    if flt.postback_id is not None:
        where.append(D.postback_id == flt.postback_id)
    if flt.status is not None:
        where.append(status_is(flt.status))
    if flt.action_id is not None:
        where.append(D.action_id == flt.action_id)
    if flt.event_id is not None:
        where.append(D.event_id == flt.event_id)
    if flt.since is not None:
        where.append(D.created_at >= flt.since)
    if flt.until is not None:
        where.append(D.created_at < flt.until)
    return where


async def list_page(
    conn: AsyncConnection,
    owner_id: str | None,
    flt: DeliveryFilter,
    limit: int,
    cursor: str | None,
) -> Page:
    """Newest first, keyset-paginated on (created_at, seq)."""
    limit = max(1, limit)
    where = filters(owner_id, flt)
    if cursor:
        stamp, seq = rows.decode_cursor(cursor)
        where.append(or_(D.created_at < stamp, and_(D.created_at == stamp, D.seq < seq)))
    query = select(deliveries).where(*where).order_by(D.created_at.desc(), D.seq.desc())
    found = list(await conn.execute(query.limit(limit + 1)))
    items = tuple(rows.delivery(r) for r in found[:limit])
    more = len(found) > limit
    last = found[limit - 1] if more else None
    return Page(
        items=items,
        next_cursor=rows.encode_cursor(last.created_at, last.seq) if last else None,
    )


async def get_delivery(conn: AsyncConnection, delivery_id: str, owner_id: str | None) -> Delivery:
    """One delivery with every attempt, in order."""
    where = [D.id == delivery_id]
    if owner_id is not None:
        where.append(D.owner_id == owner_id)
    row = (await conn.execute(select(deliveries).where(*where))).first()
    if row is None:
        raise NotFound(f"delivery {delivery_id} not found")
    tried = await conn.execute(
        select(attempts)
        .where(attempts.c.delivery_id == delivery_id)
        .order_by(attempts.c.number, attempts.c.id)
    )
    base = redact(rows.request(row))  # what attempts that stored no request sent
    return rows.delivery(row, tuple(rows.attempt(a, base) for a in tried))


def _live_postback() -> ColumnElement[bool]:
    """Deliveries whose postback still exists (a deleted one's log is kept, not resent)."""
    return select(postbacks.c.id).where(postbacks.c.id == D.postback_id).exists()


async def _postback_exists(conn: AsyncConnection, postback_id: str) -> bool:
    found = await conn.execute(select(postbacks.c.id).where(postbacks.c.id == postback_id))
    return found.first() is not None


def _again(now: datetime) -> dict[str, Any]:
    return {
        "status": DeliveryStatus.SCHEDULED.value,
        "due_at": now,
        "round_attempts": 0,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
    }


async def redeliver(
    conn: AsyncConnection, delivery_id: str, owner_id: str | None, now: datetime
) -> Delivery:
    """Send again from now, with a fresh retry round; not while it is being sent."""
    current = await get_delivery(conn, delivery_id, owner_id)
    if current.original_id is not None:
        raise Conflict(
            f"delivery {current.id} resends {current.original_id} as it was sent and keeps "
            f"that request; to send with the current postback, redeliver {current.original_id}"
        )
    if not await _postback_exists(conn, current.postback_id):
        raise Conflict(f"the postback of delivery {current.id} was deleted; it cannot be sent")
    if _never_sendable(current):
        raise Conflict(f"delivery {current.id} can never be sent: {current.last_error}")
    result = await conn.execute(
        update(deliveries).where(D.id == delivery_id, D.lease_owner.is_(None)).values(**_again(now))
    )
    if result.rowcount == 0:
        raise Conflict(f"delivery {current.id} is being sent right now; try again shortly")
    return await get_delivery(conn, delivery_id, owner_id)


async def resend_as_sent(
    conn: AsyncConnection, delivery_id: str, owner_id: str | None, now: datetime, created: datetime
) -> Delivery:
    """A new delivery, due ``now``, of the original's stored request exactly as it is
    (never rendered again), linked to the original; the original is left as it was."""
    original = await get_delivery(conn, delivery_id, owner_id)
    if not await _postback_exists(conn, original.postback_id):
        raise Conflict(f"the postback of delivery {original.id} was deleted; it cannot be sent")
    if _never_sendable(original):
        raise Conflict(
            f"delivery {original.id} has no stored request to send as sent: it failed before "
            f"it was ever sent ({original.last_error})"
        )
    copy = NewDelivery(
        postback_id=original.postback_id,
        owner_id=original.owner_id,
        request=original.request,
        due_at=now,
        order_key=original.order_key,
        action_id=original.action_id,
        postback_version=original.postback_version,
    )
    values = delivery_values(
        original.event_id, original.event_occurred_at, copy, created, original.id
    )
    row = dict(zip(DELIVERY_COLUMNS, values, strict=True))
    await conn.execute(_delivery_insert(conn), [row])
    return await get_delivery(conn, row["id"], owner_id)


def _never_sendable(delivery: Delivery) -> bool:
    """Failed at ingest (too large, a value its template cannot render): no attempt was
    made and its request was not kept, so sending it again would send something else."""
    return delivery.status is DeliveryStatus.FAILED and delivery.attempt_count == 0


def _sendable() -> ColumnElement[bool]:
    return or_(D.status != DeliveryStatus.FAILED.value, D.attempt_count > 0)


async def replay(
    conn: AsyncConnection, owner_id: str | None, flt: DeliveryFilter, now: datetime
) -> int:
    """Redeliver every finished (delivered or failed) delivery the filter selects."""
    result = await conn.execute(
        update(deliveries)
        .where(*filters(owner_id, flt), D.status.in_(FINAL), _live_postback(), _sendable())
        .values(**_again(now))
    )
    return int(result.rowcount)


async def start_replay(
    conn: AsyncConnection, owner_id: str | None, flt: DeliveryFilter, now: datetime
) -> Replay:
    """:func:`replay`, recorded as a replay whose deliveries carry its id."""
    replay_id = rows.new_id("rpl")
    result = await conn.execute(
        update(deliveries)
        .where(*filters(owner_id, flt), D.status.in_(FINAL), _live_postback(), _sendable())
        .values(**_again(now), replay_id=replay_id)
    )
    total = int(result.rowcount)
    await conn.execute(
        insert(replays).values(id=replay_id, owner_id=owner_id, created_at=now, total=total)
    )
    return Replay(id=replay_id, owner_id=owner_id, created_at=now, total=total, waiting=total)


async def get_replay(conn: AsyncConnection, replay_id: str, owner_id: str | None) -> Replay:
    """A replay and where its deliveries are now; another account's is not found."""
    where = [replays.c.id == replay_id]
    if owner_id is not None:
        where.append(replays.c.owner_id == owner_id)
    row = (await conn.execute(select(replays).where(*where))).first()
    if row is None:
        raise NotFound(f"replay {replay_id} not found")
    counted = await conn.execute(
        select(D.status, func.count()).where(D.replay_id == replay_id).group_by(D.status)
    )
    by_status = {status: int(n) for status, n in counted}
    return Replay(
        id=row.id,
        owner_id=row.owner_id,
        created_at=row.created_at,
        total=row.total,
        waiting=sum(by_status.get(s, 0) for s in ("scheduled", "sending")),
        retrying=by_status.get(DeliveryStatus.RETRYING.value, 0),
        delivered=by_status.get(DeliveryStatus.DELIVERED.value, 0),
        failed=by_status.get(DeliveryStatus.FAILED.value, 0),
    )


async def list_notices(conn: AsyncConnection, account_id: str) -> list[Notice]:
    result = await conn.execute(
        select(notices)
        .where(notices.c.account_id == account_id)
        .order_by(notices.c.created_at.desc(), notices.c.id.desc())
    )
    return [
        Notice(id=r.id, account_id=r.account_id, created_at=r.created_at, message=r.message)
        for r in result
    ]
