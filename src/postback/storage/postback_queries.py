"""SQL for postbacks: create, read, update, delete, and which ones an event fans out to."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    false,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.delivery import signing
from postback.domain.records import Event, EventTopic, PostbackConfig, PostbackKind, SigningSecret
from postback.domain.records import Postback as PostbackRecord
from postback.errors import NotFound
from postback.storage import rows
from postback.storage.sql import (
    OPEN_STATUSES,
    contracts,
    deliveries,
    event_types,
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
            id=pid,
            owner_id=owner_id,
            created_at=now,
            updated_at=now,
            signing_secret=signing.new_secret(),
            **rows.config_values(config),
        )
    )
    return PostbackRecord(id=pid, owner_id=owner_id, config=config, created_at=now, updated_at=now)


async def get(conn: AsyncConnection, postback_id: str, owner_id: str | None) -> PostbackRecord:
    row = (await conn.execute(select(postbacks).where(*_scoped(postback_id, owner_id)))).first()
    if row is None:
        raise NotFound(f"postback {postback_id} not found")
    return rows.postback(row)


async def secret(conn: AsyncConnection, postback_id: str, owner_id: str | None) -> SigningSecret:
    """The postback's signing secret (and when a rotated-out one stops signing)."""
    query = select(P.signing_secret, P.previous_secret_until).where(*_scoped(postback_id, owner_id))
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"postback {postback_id} not found")
    return SigningSecret(postback_id, row.signing_secret, row.previous_secret_until)


async def rotate_secret(
    conn: AsyncConnection, postback_id: str, owner_id: str | None, keep_until: datetime
) -> SigningSecret:
    """A new signing secret; the old one keeps signing too until ``keep_until``."""
    result = await conn.execute(
        update(postbacks)
        .where(*_scoped(postback_id, owner_id))
        .values(
            previous_signing_secret=P.signing_secret,
            previous_secret_until=keep_until,
            signing_secret=signing.new_secret(),
        )
    )
    if result.rowcount == 0:
        raise NotFound(f"postback {postback_id} not found")
    return await secret(conn, postback_id, owner_id)


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
    values: dict[str, Any] = {
        **rows.config_values(config),
        "updated_at": now,
        "version": P.version + 1,  # workers re-render what is not yet delivered
    }
    if config.enabled:
        values |= {"disabled_reason": None, "disabled_at": None, "failing_since": None}
    before = await get(conn, postback_id, owner_id)
    await conn.execute(update(postbacks).where(*_scoped(postback_id, owner_id)).values(**values))
    if before.config.min_delay_seconds != config.min_delay_seconds:
        await _delay_changed(conn, postback_id, config.min_delay_seconds)
    return await get(conn, postback_id, owner_id)


async def _delay_changed(conn: AsyncConnection, postback_id: str, delay: int) -> None:
    """Deliveries not yet tried fall due by the postback's new minimum delay (retries
    keep their backoff)."""
    d = deliveries.c
    waiting = await conn.execute(
        select(d.id, d.event_occurred_at).where(
            d.postback_id == postback_id,
            d.status == "scheduled",
            d.attempt_count == 0,
            d.lease_owner.is_(None),
        )
    )
    changes = [
        {"b_id": r.id, "b_due": r.event_occurred_at + timedelta(seconds=delay)} for r in waiting
    ]
    if changes:
        await conn.execute(
            update(deliveries).where(d.id == bindparam("b_id")).values(due_at=bindparam("b_due")),
            changes,
        )


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
#
# A rule reads an event only through its MatchKey and puts the key's values into the
# query as bound parameters, so the statement depends on the key's *shape* (its type and
# which fields it has) and is built once per shape; equal keys match the same postbacks.

_PARTNER: BindParameter[str] = bindparam("partner")
_EVENT_TYPE: BindParameter[str] = bindparam("event_type")
_NAME: BindParameter[str] = bindparam("name")
_SOURCE: BindParameter[str] = bindparam("source")
_PROGRAM: BindParameter[str] = bindparam("program")
_POSTBACK_ID: BindParameter[str] = bindparam("postback_id")
_PRESENT = "?"  # a shape's stand-in for a field's value


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class MatchKey:
    """Everything matching reads from an event."""

    type: EventTopic
    partner: str | None  # MediaPartnerId
    event_type: str | None  # ActionTrackerId
    name: str | None  # InAppEvent, else EventName
    source: str | None  # MediaSourceId
    program: str | None  # CampaignId

    def shape(self) -> MatchKey:
        """Which fields the key has, not their values: one statement per shape."""
        fields = (self.partner, self.event_type, self.name, self.source, self.program)
        return MatchKey(self.type, *(None if v is None else _PRESENT for v in fields))

    def params(self) -> dict[str, str]:
        """The values for the statement's bound parameters."""
        fields = {
            "partner": self.partner,
            "event_type": self.event_type,
            "name": self.name,
            "source": self.source,
            "program": self.program,
        }
        return {k: v for k, v in fields.items() if v is not None}


def match_key(event: Event) -> MatchKey:
    data = event.data
    return MatchKey(
        type=event.type,
        partner=_text(data, "MediaPartnerId"),
        event_type=_text(data, "ActionTrackerId"),
        name=_text(data, "InAppEvent") or _text(data, "EventName"),
        source=_text(data, "MediaSourceId"),
        program=_text(data, "CampaignId"),
    )


def _kind_of(key: MatchKey, kind: PostbackKind) -> ColumnElement[bool]:
    if key.partner is None:
        return false()
    return and_(P.kind == kind.value, P.owner_id == _PARTNER)


def _in_contract() -> ColumnElement[bool]:
    """The postback's event type belongs to a program its partner has a contract with."""
    return exists().where(
        contracts.c.partner_id == P.partner_id,
        contracts.c.program_id == event_types.c.program_id,
        event_types.c.id == P.event_type_id,
    )


def _integration(key: MatchKey, install: bool) -> ColumnElement[bool]:
    if key.partner is None or key.event_type is None:
        return false()
    clause = and_(
        P.kind == PostbackKind.PARTNER_INTEGRATION.value,
        P.partner_id == _PARTNER,
        P.event_type_id == _EVENT_TYPE,
        _in_contract(),
    )
    if install:
        return and_(clause, P.include_installs.is_(True))
    if key.name is None:
        return and_(clause, P.in_app_event.is_(None))
    return and_(clause, or_(P.in_app_event.is_(None), P.in_app_event == _NAME))


def _media_source(key: MatchKey) -> ColumnElement[bool]:
    if key.source is None or key.event_type is None:
        return false()
    return and_(
        P.kind == PostbackKind.MEDIA_SOURCE.value,
        P.media_source_id == _SOURCE,
        P.event_type_id == _EVENT_TYPE,
    )


def _catalog(key: MatchKey) -> ColumnElement[bool]:
    if key.program is None:
        return false()
    partners = select(contracts.c.partner_id).where(contracts.c.program_id == _PROGRAM)
    return and_(P.kind == PostbackKind.CATALOG_CHANGE.value, P.owner_id.in_(partners))


def _lifecycle(key: MatchKey) -> ColumnElement[bool]:
    return _kind_of(key, PostbackKind.ACTION_LIFECYCLE)


def _tracked(key: MatchKey) -> ColumnElement[bool]:
    return or_(_lifecycle(key), _integration(key, install=False), _media_source(key))


def _locked(key: MatchKey) -> ColumnElement[bool]:
    return and_(_lifecycle(key), P.include_locking.is_(True))


def _clearing(key: MatchKey) -> ColumnElement[bool]:
    return _kind_of(key, PostbackKind.ACTION_CLEARING)


def _install(key: MatchKey) -> ColumnElement[bool]:
    return or_(_integration(key, install=True), _media_source(key))


def _inquiry(key: MatchKey) -> ColumnElement[bool]:
    return _kind_of(key, PostbackKind.ACTION_INQUIRY)


RULES: dict[EventTopic, Callable[[MatchKey], ColumnElement[bool]]] = {
    EventTopic.ACTION_TRACKED: _tracked,
    EventTopic.ACTION_MODIFIED: _lifecycle,
    EventTopic.ACTION_REVERSED: _lifecycle,
    EventTopic.ACTION_LOCKED: _locked,
    EventTopic.ACTION_CLEARED: _clearing,
    EventTopic.APP_INSTALL: _install,
    EventTopic.INQUIRY_CREATED: _inquiry,
    EventTopic.INQUIRY_RESOLVED: _inquiry,
    EventTopic.CATALOG_ITEM_CHANGED: _catalog,
}


def match_clause(key: MatchKey) -> ColumnElement[bool]:
    """Which postbacks an event reaches (README.md, How it works), as one condition
    over the key's bound parameters."""
    rule = RULES.get(key.type)
    return rule(key) if rule else false()


@functools.cache
def matching_statement(shape: MatchKey) -> Select[Any]:
    return (
        select(postbacks)
        .where(P.enabled.is_(True), P.disabled_reason.is_(None), match_clause(shape))
        .order_by(P.created_at, P.id)
    )


@functools.cache
def _reaches_statement(shape: MatchKey) -> Select[Any]:
    return select(P.id).where(P.id == _POSTBACK_ID, match_clause(shape))


async def _matching_key(conn: AsyncConnection, key: MatchKey) -> list[PostbackRecord]:
    result = await conn.execute(matching_statement(key.shape()), key.params())
    return [rows.postback(r) for r in result]


async def matching_many(
    conn: AsyncConnection, events: Sequence[Event]
) -> list[list[PostbackRecord]]:
    """Enabled, not automatically disabled postbacks each event fans out to, in order:
    one query per distinct match key."""
    keys = [match_key(e) for e in events]
    found = {key: await _matching_key(conn, key) for key in dict.fromkeys(keys)}
    return [list(found[key]) for key in keys]


async def reaches(conn: AsyncConnection, postback_id: str, event: Event) -> bool:
    """Whether the event is one this postback is for, enabled or not."""
    key = match_key(event)
    params = {**key.params(), "postback_id": postback_id}
    return (await conn.execute(_reaches_statement(key.shape()), params)).first() is not None
