"""SQL for postbacks: create, read, update, delete, and which ones an event fans out to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.domain import Event, EventType, PostbackConfig, PostbackKind
from postback.domain import Postback as PostbackRecord
from postback.errors import NotFound
from postback.storage import rows
from postback.storage.sql import (
    OPEN_STATUSES,
    action_trackers,
    contracts,
    deliveries,
    postback_rate,
    postbacks,
)

P = postbacks.c


def _scoped(postback_id: str, owner_id: str | None) -> list[ColumnElement[bool]]:
    where = [P.id == postback_id]
    if owner_id is not None:
        where.append(P.owner_id == owner_id)
    return where


async def create(
    conn: AsyncConnection, owner_id: str, config: PostbackConfig, now: datetime
) -> PostbackRecord:
    """Store a (validated) postback for its owner."""
    pid = rows.new_id("pb")
    await conn.execute(
        insert(postbacks).values(
            id=pid, owner_id=owner_id, created_at=now, updated_at=now, **rows.config_values(config)
        )
    )
    return PostbackRecord(id=pid, owner_id=owner_id, config=config, created_at=now, updated_at=now)


async def get(conn: AsyncConnection, postback_id: str, owner_id: str | None) -> PostbackRecord:
    row = (await conn.execute(select(postbacks).where(*_scoped(postback_id, owner_id)))).first()
    if row is None:
        raise NotFound(f"postback {postback_id} not found")
    return rows.postback(row)


async def list_for(conn: AsyncConnection, owner_id: str | None) -> list[PostbackRecord]:
    query = select(postbacks).order_by(P.created_at, P.id)
    if owner_id is not None:
        query = query.where(P.owner_id == owner_id)
    return [rows.postback(r) for r in await conn.execute(query)]


async def replace(
    conn: AsyncConnection,
    postback_id: str,
    owner_id: str | None,
    config: PostbackConfig,
    now: datetime,
) -> PostbackRecord:
    """Replace the configuration. Saving it enabled clears an automatic disabling."""
    values: dict[str, Any] = {**rows.config_values(config), "updated_at": now}
    if config.enabled:
        values |= {"disabled_reason": None, "failing_since": None}
    result = await conn.execute(
        update(postbacks).where(*_scoped(postback_id, owner_id)).values(**values)
    )
    if result.rowcount == 0:
        raise NotFound(f"postback {postback_id} not found")
    return await get(conn, postback_id, owner_id)


async def remove(
    conn: AsyncConnection, postback_id: str, owner_id: str | None, now: datetime
) -> None:
    """Delete a postback; its log stays, and what it still had to send is marked failed."""
    result = await conn.execute(delete(postbacks).where(*_scoped(postback_id, owner_id)))
    if result.rowcount == 0:
        raise NotFound(f"postback {postback_id} not found")
    await conn.execute(delete(postback_rate).where(postback_rate.c.postback_id == postback_id))
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.postback_id == postback_id, deliveries.c.status.in_(OPEN_STATUSES))
        .values(
            status="failed",
            last_error="postback deleted",
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )


# -- matching --------------------------------------------------------------------------


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return None if value is None or value == "" else str(value)


def _kind_of(partner: str | None, kind: PostbackKind) -> ColumnElement[bool]:
    if partner is None:
        return false()
    return and_(P.kind == kind.value, P.owner_id == partner)


def _in_contract() -> ColumnElement[bool]:
    """The postback's event type belongs to a program its partner has a contract with."""
    return exists().where(
        contracts.c.partner_id == P.partner_id,
        contracts.c.program_id == action_trackers.c.program_id,
        action_trackers.c.id == P.event_type_id,
    )


def _integration(data: dict[str, Any], install: bool) -> ColumnElement[bool]:
    partner, tracker = _text(data, "MediaPartnerId"), _text(data, "ActionTrackerId")
    if partner is None or tracker is None:
        return false()
    clause = and_(
        P.kind == PostbackKind.PARTNER_INTEGRATION.value,
        P.partner_id == partner,
        P.event_type_id == tracker,
        _in_contract(),
    )
    if install:
        return and_(clause, P.include_installs.is_(True))
    name = _text(data, "InAppEvent") or _text(data, "EventName")
    if name is None:
        return and_(clause, P.in_app_event.is_(None))
    return and_(clause, or_(P.in_app_event.is_(None), P.in_app_event == name))


def _media_source(data: dict[str, Any]) -> ColumnElement[bool]:
    source, tracker = _text(data, "MediaSourceId"), _text(data, "ActionTrackerId")
    if source is None or tracker is None:
        return false()
    return and_(
        P.kind == PostbackKind.MEDIA_SOURCE.value,
        P.media_source_id == source,
        P.event_type_id == tracker,
    )


def _catalog(data: dict[str, Any]) -> ColumnElement[bool]:
    program = _text(data, "CampaignId")
    if program is None:
        return false()
    partners = select(contracts.c.partner_id).where(contracts.c.program_id == program)
    return and_(P.kind == PostbackKind.CATALOG_CHANGE.value, P.owner_id.in_(partners))


def _lifecycle(data: dict[str, Any]) -> ColumnElement[bool]:
    return _kind_of(_text(data, "MediaPartnerId"), PostbackKind.ACTION_LIFECYCLE)


def _tracked(data: dict[str, Any]) -> ColumnElement[bool]:
    return or_(_lifecycle(data), _integration(data, install=False), _media_source(data))


def _locked(data: dict[str, Any]) -> ColumnElement[bool]:
    return and_(_lifecycle(data), P.include_locking.is_(True))


def _clearing(data: dict[str, Any]) -> ColumnElement[bool]:
    return _kind_of(_text(data, "MediaPartnerId"), PostbackKind.ACTION_CLEARING)


def _install(data: dict[str, Any]) -> ColumnElement[bool]:
    return or_(_integration(data, install=True), _media_source(data))


def _inquiry(data: dict[str, Any]) -> ColumnElement[bool]:
    return _kind_of(_text(data, "MediaPartnerId"), PostbackKind.ACTION_INQUIRY)


RULES: dict[EventType, Callable[[dict[str, Any]], ColumnElement[bool]]] = {
    EventType.ACTION_TRACKED: _tracked,
    EventType.ACTION_MODIFIED: _lifecycle,
    EventType.ACTION_REVERSED: _lifecycle,
    EventType.ACTION_LOCKED: _locked,
    EventType.ACTION_CLEARED: _clearing,
    EventType.APP_INSTALL: _install,
    EventType.INQUIRY_CREATED: _inquiry,
    EventType.INQUIRY_RESOLVED: _inquiry,
    EventType.CATALOG_ITEM_CHANGED: _catalog,
}


def match_clause(event: Event) -> ColumnElement[bool]:
    """Which postbacks an event reaches (product.md, Events table), as one condition."""
    rule = RULES.get(event.type)
    return rule(event.data) if rule else false()


async def matching(conn: AsyncConnection, event: Event) -> list[PostbackRecord]:
    """Enabled, not automatically disabled postbacks the event fans out to."""
    query = (
        select(postbacks)
        .where(P.enabled.is_(True), P.disabled_reason.is_(None), match_clause(event))
        .order_by(P.created_at, P.id)
    )
    return [rows.postback(r) for r in await conn.execute(query)]


async def reaches(conn: AsyncConnection, postback_id: str, event: Event) -> bool:
    """Whether the event is one this postback is for, enabled or not."""
    query = select(P.id).where(P.id == postback_id, match_clause(event))
    return (await conn.execute(query)).first() is not None
