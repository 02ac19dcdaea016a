"""SQL for events and deliveries as owners see them: ingest, the log, redeliver, replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.delivery.breaker import destination
from postback.delivery.redact import redact
from postback.domain.records import Delivery, DeliveryStatus, Event, NewDelivery, Replay
from postback.errors import Conflict, NotFound
from postback.storage import rows
from postback.storage.interfaces import DeliveryFilter, IngestItem, IngestResult, Notice, Page
from postback.storage.sql import attempts, deliveries, events, notices, postbacks, replays

D = deliveries.c
FINAL = (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value)


def dialect_insert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ``ON CONFLICT`` for the connection's database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _delivery_insert(conn: AsyncConnection) -> Insert:
    """PostgreSQL numbers rows by identity; SQLite takes MAX(seq) + 1 inside the INSERT,
    which is atomic because SQLite runs one writer at a time."""
    stmt = deliveries.insert()
    if conn.dialect.name == "sqlite":
        next_seq = select(func.coalesce(func.max(D.seq), 0) + 1).scalar_subquery()
        stmt = stmt.values(seq=next_seq)
    return stmt


def _event_row(event: Event, count: int, now: datetime) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type.value,
        "occurred_at": event.occurred_at,
        "data": rows.dump(event.data),
        "received_at": event.received_at or now,
        "deliveries_created": count,
    }


def _delivery_row(event: Event, new: NewDelivery, now: datetime) -> dict[str, Any]:
    req = new.request
    return {
        "id": rows.new_id("dlv"),
        "postback_id": new.postback_id,
        "owner_id": new.owner_id,
        "event_id": event.id,
        "event_occurred_at": event.occurred_at,
        "method": req.method.value,
        "url": req.url,
        "destination": destination(req.url),
        "headers": rows.dump_pairs(req.headers),
        "body": req.body,
        "status": (
            DeliveryStatus.SCHEDULED if new.failure is None else DeliveryStatus.FAILED
        ).value,
        "last_error": new.failure,
        "due_at": new.due_at,
        "order_key": new.order_key,
        "action_id": new.action_id,
        "attempt_count": 0,
        "round_attempts": 0,
        "created_at": now,
        "updated_at": now,
        "postback_version": new.postback_version,
    }


async def ingest(
    conn: AsyncConnection, items: Sequence[IngestItem], now: datetime
) -> list[IngestResult]:
    """Insert new events and their deliveries in bulk; report known ids as duplicates."""
    first: dict[str, IngestItem] = {}
    for item in items:
        first.setdefault(item.event.id, item)
    if not first:
        return []
    stmt = (
        dialect_insert(conn, events)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(events.c.id)
    )
    event_rows = [_event_row(i.event, len(i.deliveries), now) for i in first.values()]
    inserted = set((await conn.execute(stmt, event_rows)).scalars())
    new_rows = [
        _delivery_row(item.event, d, now)
        for eid, item in first.items()
        if eid in inserted
        for d in item.deliveries
    ]
    if new_rows:
        await conn.execute(_delivery_insert(conn), new_rows)
    known = await _stored_counts(conn, [e for e in first if e not in inserted])
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
