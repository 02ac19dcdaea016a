"""SQL for the workers' side: claim due deliveries, complete attempts, next due time.

This is the statement-by-statement form, in one transaction, that SQLite runs (and
PostgreSQL for the rare cases: a batch written again, requests rendered anew, rate
limits). PostgreSQL's hot path, one statement to claim and one to complete, is
:mod:`~postback.storage.pg_queue`; it compiles its claim from the pieces here, so both
take the same deliveries in the same order. A lease writes only unindexed columns, so
PostgreSQL can keep it a HOT update.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.config import Network
from postback.delivery import signing
from postback.delivery.breaker import destination
from postback.delivery.queue import ALL_DESTINATIONS, AttemptResult, Claim, Destinations
from postback.delivery.ratelimit import Plan, RateState, plan
from postback.domain.records import DeliveryStatus
from postback.storage import bulk, rows
from postback.storage.delivery_queries import dialect_insert
from postback.storage.sql import (
    OPEN_STATUSES,
    UTCDateTime,
    accounts,
    attempts,
    deliveries,
    notices,
    postback_rate,
    postbacks,
)

D, P = deliveries.c, postbacks.c
WAITING = (DeliveryStatus.SCHEDULED.value, DeliveryStatus.RETRYING.value)
NOW = bindparam("now", type_=UTCDateTime())
DISABLE_AFTER = timedelta(days=3)


# -- what may be sent --------------------------------------------------------------------


def _open_status(statuses: Sequence[str] = OPEN_STATUSES) -> ColumnElement[bool]:
    """``status IN (...)`` with literal values, so both databases can use the partial
    claim index (a bound parameter would hide that the index predicate holds)."""
    return D.status.in_([literal(s, literal_execute=True) for s in statuses])


def _not_blocked() -> ColumnElement[bool]:
    """No earlier unfinished delivery of the same postback and order key.

    ``OFFSET 0`` keeps PostgreSQL from turning this into an anti-join over every due
    row: it stays a per-row probe of the ordering index, so a claim reads the claim
    index in due order and stops at its limit."""
    e = deliveries.alias("earlier")
    earlier = (
        select(literal(1))
        .where(
            e.c.postback_id == D.postback_id,
            e.c.order_key == D.order_key,
            e.c.status.in_(OPEN_STATUSES),
            tuple_(e.c.event_occurred_at, e.c.seq) < tuple_(D.event_occurred_at, D.seq),
        )
        .offset(0)
    )
    return not_(earlier.exists())


def _active() -> ColumnElement[bool]:
    """The delivery's postback exists, is enabled and was not disabled automatically."""
    return (
        select(literal(1))
        .where(P.id == D.postback_id, P.enabled.is_(True), P.disabled_reason.is_(None))
        .offset(0)
        .exists()
    )


def _due() -> ColumnElement[bool]:
    """Waiting and due, not leased or under a lease that has run out (its worker died).

    A leased row keeps its status and the ``due_at`` it was claimed at (always <= now),
    so the claim index on ``due_at`` serves both cases."""
    return and_(
        _open_status(),
        D.due_at <= NOW,
        or_(D.lease_until.is_(None), D.lease_until <= NOW),
    )


# Delivery columns a claim reads; with the postback's (``POSTBACK_COLUMNS``, through
# ``postbacks`` and the owner's ``accounts`` row) a claim needs no other lookup.
CLAIM_COLUMNS = (
    D.id,
    D.postback_id,
    D.event_id,
    D.method,
    D.url,
    D.headers,
    D.body,
    D.attempt_count,
    D.round_attempts,
    D.postback_version,
    D.due_at,
    D.seq,
    D.original_id,
)
POSTBACK_COLUMNS = (
    P.kind,
    P.max_requests_per_second,
    P.success_response,
    P.error_response,
    P.signing_enabled,
    P.signing_secret,
    P.previous_signing_secret,
    P.previous_secret_until,
    P.version,
    accounts.c.allowed_networks,
)


def claimable() -> list[ColumnElement[bool]]:
    """What a claim asks of a delivery: due, its postback active, not blocked by order."""
    return [_due(), _active(), _not_blocked()]


def _destinations(skip: bool, only: bool) -> list[ColumnElement[bool]]:
    """Leave out the destinations in ``:skip`` (their circuit breakers are open), or
    take only ``:only`` (a breaker's probe)."""
    out = []
    if skip:
        skipped = D.destination.not_in(bindparam("skip", expanding=True))
        out.append(or_(D.destination.is_(None), skipped))
    if only:
        out.append(D.destination == bindparam("only"))
    return out


def due_ids(skip: bool = False, only: bool = False) -> Select[Any]:
    """The ids a claim takes: due, in order, up to ``limit``, locked (PostgreSQL)."""
    return (
        select(D.id)
        .where(*claimable(), *_destinations(skip, only))
        .order_by(D.due_at, D.seq)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )


def with_terms(rows: Any) -> Select[Any]:
    """``rows`` (delivery columns) with their postback's terms, in claim order."""
    return (
        select(rows, *POSTBACK_COLUMNS)
        .select_from(
            rows.join(postbacks, P.id == rows.c.postback_id).outerjoin(
                accounts, accounts.c.id == P.owner_id
            )
        )
        .order_by(rows.c.due_at, rows.c.seq)
    )


def _candidates(skip: bool = False, only: bool = False) -> Select[Any]:
    due = due_ids(skip, only).scalar_subquery()
    return with_terms(select(*CLAIM_COLUMNS).where(D.id.in_(due)).subquery())


# Built once, executed with parameters: building one of these costs more than running it.
FILTERED = {(s, o): _candidates(s, o) for s in (False, True) for o in (False, True)}


def claim_params(now: datetime, limit: int, where: Destinations) -> dict[str, Any]:
    """Parameters of ``FILTERED[filtered(where)]``."""
    params: dict[str, Any] = {"now": now, "limit": max(1, limit)}
    if where.skip:
        params["skip"] = sorted(where.skip)
    if where.only is not None:
        params["only"] = where.only
    return params


def filtered(where: Destinations) -> tuple[bool, bool]:
    return bool(where.skip), where.only is not None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A due delivery and what its postback says about sending it."""

    id: str
    postback_id: str
    row: Any
    rate: float | None
    success_response: str | None
    error_response: str | None
    signing_secrets: tuple[str, ...] = ()
    kind: str = ""
    version: int = 1  # the postback's current version
    networks: tuple[Network, ...] = ()


def _secrets(terms: Any, now: datetime) -> tuple[str, ...]:
    return signing.active_secrets(
        bool(terms.signing_enabled),
        terms.signing_secret,
        terms.previous_signing_secret,
        terms.previous_secret_until,
        now,
    )


@functools.lru_cache(maxsize=1024)
def _networks(text: str | None) -> tuple[Network, ...]:
    return rows.networks(text)


def candidates(found: Iterable[Any], now: datetime) -> list[Candidate]:
    """Candidates from rows of ``CLAIM_COLUMNS`` and ``POSTBACK_COLUMNS``; the signing
    secrets are worked out once per postback."""
    keys: dict[str, tuple[str, ...]] = {}
    out = []
    for r in found:
        secrets = keys.get(r.postback_id)
        if secrets is None:
            secrets = keys[r.postback_id] = _secrets(r, now)
        out.append(
            Candidate(
                id=r.id,
                postback_id=r.postback_id,
                row=r,
                rate=r.max_requests_per_second,
                success_response=r.success_response,
                error_response=r.error_response,
                signing_secrets=secrets,
                kind=r.kind,
                version=r.version,
                networks=_networks(r.allowed_networks),
            )
        )
    return out


async def _lock_states(
    conn: AsyncConnection, pids: list[str], now: datetime
) -> dict[str, RateState]:
    """Create missing rate rows, then lock them in id order (no deadlocks between workers)."""
    if not pids:
        return {}
    await conn.execute(
        dialect_insert(conn, postback_rate).on_conflict_do_nothing(index_elements=["postback_id"]),
        [{"postback_id": p, "tat": now} for p in pids],
    )
    result = await conn.execute(
        select(postback_rate.c.postback_id, postback_rate.c.tat, postback_rate.c.queued_until)
        .where(postback_rate.c.postback_id.in_(pids))
        .order_by(postback_rate.c.postback_id)
        .with_for_update()
    )
    return {r.postback_id: RateState(r.tat, r.queued_until) for r in result}


_STATE_UPDATE = (
    update(postback_rate)
    .where(postback_rate.c.postback_id == bindparam("b_pid"))
    .values(tat=bindparam("b_tat"), queued_until=bindparam("b_queued"))
)


async def _store_states(conn: AsyncConnection, states: dict[str, RateState]) -> None:
    if states:
        await conn.execute(
            _STATE_UPDATE,
            [
                {"b_pid": p, "b_tat": st.tat, "b_queued": st.queued_until}
                for p, st in sorted(states.items())
            ],
        )


def _by_value(changes: Iterable[tuple[Any, str]]) -> dict[Any, list[str]]:
    """Ids grouped by the value they get (a claim's leases usually all share one)."""
    groups: dict[Any, list[str]] = {}
    for value, row_id in changes:
        groups.setdefault(value, []).append(row_id)
    return groups


_LEASE = (
    update(deliveries)
    .where(D.id.in_(bindparam("ids", expanding=True)))
    .values(
        lease_owner=bindparam("worker"),
        lease_until=bindparam("until", type_=UTCDateTime()),
        updated_at=NOW,
    )
)
# A delivery leased by the claim that must wait for its rate-limit turn: due then, free.
_DEFER = (
    update(deliveries)
    .where(D.id == bindparam("b_id"), D.lease_owner == bindparam("b_worker"))
    .values(due_at=bindparam("b_due", type_=UTCDateTime()), lease_owner=None, lease_until=None)
)
_LATER = (
    update(deliveries)
    .where(D.id == bindparam("b_id"))
    .values(due_at=bindparam("b_due", type_=UTCDateTime()))
)


async def _store_plan(
    conn: AsyncConnection, out: Plan[Candidate], worker_id: str, now: datetime, lease: timedelta
) -> None:
    """Lease what goes (until its send time plus the lease), defer what waits."""
    await _store_states(conn, out.states)
    for at, ids in _by_value((at, c.id) for c, at in out.send).items():
        await conn.execute(
            _LEASE, {"ids": ids, "worker": worker_id, "until": at + lease, "now": now}
        )
    if out.later:
        await conn.execute(_LATER, [{"b_id": i, "b_due": at} for i, at in out.later])


def claims(out: Plan[Candidate], lease: timedelta) -> list[Claim]:
    """What the worker gets for each delivery the plan sends."""
    return [
        Claim(
            delivery_id=c.id,
            postback_id=c.postback_id,
            request=rows.request(c.row),
            attempt_number=c.row.attempt_count + 1,
            retry_round_attempt=c.row.round_attempts + 1,
            send_at=at,
            lease_until=at + lease,
            success_response=c.success_response,
            error_response=c.error_response,
            signing_secrets=c.signing_secrets,
            postback_kind=c.kind,
            event_id=c.row.event_id,
            postback_version=c.row.postback_version,
            current_version=_version_to_send(c),
            allowed_networks=c.networks,
        )
        for c, at in out.send
    ]


def _version_to_send(c: Candidate) -> int:
    """The postback's current version; for a resend as sent, the version its kept request
    was rendered with, so the worker never renders that request again."""
    return c.version if c.row.original_id is None else int(c.row.postback_version)


def rate_limited(found: Sequence[Candidate]) -> list[str]:
    """The postbacks with a rate limit among the candidates, in id order."""
    return sorted({c.postback_id for c in found if c.rate is not None and c.rate > 0})


async def claim(
    conn: AsyncConnection,
    worker_id: str,
    now: datetime,
    limit: int,
    lease_seconds: float,
    *,
    where: Destinations = ALL_DESTINATIONS,
) -> list[Claim]:
    """Lease due deliveries in order, within each postback's rate (see Store.claim)."""
    query = FILTERED[filtered(where)]
    found = candidates(await conn.execute(query, claim_params(now, limit, where)), now)
    if not found:
        return []
    out = plan(found, await _lock_states(conn, rate_limited(found), now), now)
    lease = timedelta(seconds=lease_seconds)
    await _store_plan(conn, out, worker_id, now, lease)
    return claims(out, lease)


async def plan_leased(
    conn: AsyncConnection,
    found: Sequence[Candidate],
    worker_id: str,
    now: datetime,
    lease: timedelta,
) -> Plan[Candidate]:
    """For candidates a claim has already leased until ``now + lease``: plan their rate
    limits, move each sent one's lease to its send time, free and defer the others."""
    out = plan(found, await _lock_states(conn, rate_limited(found), now), now)
    await _store_states(conn, out.states)
    for at, ids in _by_value((at, c.id) for c, at in out.send if at != now).items():
        await conn.execute(
            _LEASE, {"ids": ids, "worker": worker_id, "until": at + lease, "now": now}
        )
    if out.later:
        await conn.execute(
            _DEFER, [{"b_id": i, "b_worker": worker_id, "b_due": at} for i, at in out.later]
        )
    return out


# -- completion ----------------------------------------------------------------------------


def last_error(result: AttemptResult) -> str | None:
    if result.status is DeliveryStatus.DELIVERED:
        return None
    return result.attempt.error or result.attempt.outcome


ATTEMPT_COLUMNS = (
    "delivery_id",
    "number",
    "started_at",
    "duration_ms",
    "request_method",
    "request_url",
    "request_headers",
    "request_body",
    "reply_status",
    "reply_headers",
    "reply_body",
    "reply_truncated",
    "outcome",
    "error",
    "postback_version",
)


def _next_due(result: AttemptResult) -> datetime | None:
    return result.next_due_at if result.status is DeliveryStatus.RETRYING else None


def _attempt_values(result: AttemptResult) -> dict[str, Any]:
    """An attempt's columns; its request only when it is not the delivery's (a request
    rendered anew is stored in full, so it stays right whoever holds the lease)."""
    return rows.attempt_values(result.attempt, same_as_delivery=result.replaced is None)


_KEEP_REQUEST = (
    update(attempts)
    .where(attempts.c.delivery_id == bindparam("b_id"), attempts.c.request_url.is_(None))
    .values(
        request_method=bindparam("b_method"),
        request_url=bindparam("b_url"),
        request_body=bindparam("b_body"),
    )
)
_NEW_REQUEST = (
    update(deliveries)
    .where(D.id == bindparam("b_id"), D.lease_owner == bindparam("b_worker"))
    .values(
        method=bindparam("b_method"),
        url=bindparam("b_url"),
        destination=bindparam("b_destination"),
        headers=bindparam("b_headers"),
        body=bindparam("b_body"),
        postback_version=bindparam("b_version"),
    )
)


async def _store_rendered(conn: AsyncConnection, results: Sequence[AttemptResult]) -> None:
    """Deliveries whose request a worker rendered anew store it; the attempts logged
    before, which held "as the delivery's", are given the request they sent."""
    fresh = [r for r in results if r.rendered is not None]
    if not fresh:
        return
    if any(r.replaced is not None for r in fresh):
        await conn.execute(
            _KEEP_REQUEST,
            [
                {
                    "b_id": r.attempt.delivery_id,
                    "b_method": r.replaced.method.value,
                    "b_url": r.replaced.url,
                    "b_body": r.replaced.body,
                }
                for r in fresh
                if r.replaced is not None
            ],
        )
    await conn.execute(
        _NEW_REQUEST,
        [
            {
                "b_id": r.attempt.delivery_id,
                "b_worker": r.worker_id,
                "b_method": r.rendered.method.value,
                "b_url": r.rendered.url,
                "b_destination": destination(r.rendered.url),
                "b_headers": rows.dump_pairs(r.rendered.headers),
                "b_body": r.rendered.body,
                "b_version": r.attempt.postback_version,
            }
            for r in fresh
            if r.rendered is not None
        ],
    )


_ATTEMPT_INSERT = insert(attempts).values({c: bindparam(c) for c in ATTEMPT_COLUMNS})
_COMPLETE = (
    update(deliveries)
    .where(D.id == bindparam("b_id"), D.lease_owner == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        attempt_count=D.attempt_count + 1,
        round_attempts=D.round_attempts + 1,
        due_at=func.coalesce(bindparam("b_due", type_=UTCDateTime()), D.due_at),
        last_error=bindparam("b_error"),
        lease_owner=None,
        lease_until=None,
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)


async def _record(conn: AsyncConnection, results: Sequence[AttemptResult], now: datetime) -> None:
    await _store_rendered(conn, results)
    await bulk.execute_many(conn, _ATTEMPT_INSERT, [_attempt_values(r) for r in results])
    await bulk.execute_many(
        conn,
        _COMPLETE,
        [
            {
                "b_id": r.attempt.delivery_id,
                "b_worker": r.worker_id,
                "b_status": r.status.value,
                "b_due": _next_due(r),
                "b_error": last_error(r),
                "b_now": now,
            }
            for r in results
        ],
    )


@dataclass
class Health:
    """One postback's successes and failures within a batch of results."""

    success: datetime | None = None  # the latest success
    failures: list[datetime] = field(default_factory=list)

    def failing_since(self) -> datetime | None:
        """The first failure after the latest success (or the first, with none)."""
        after = [f for f in self.failures if self.success is None or f > self.success]
        return min(after, default=None)

    def last_failure(self) -> datetime | None:
        after = [f for f in self.failures if self.success is None or f > self.success]
        return max(after, default=None)


async def _owners(conn: AsyncConnection, results: Sequence[AttemptResult]) -> dict[str, str]:
    """Each result's postback: as the worker's claim gave it, else looked up."""
    known = {r.attempt.delivery_id: r.postback_id for r in results if r.postback_id}
    missing = sorted({r.attempt.delivery_id for r in results} - known.keys())
    return {**known, **(await _postback_ids(conn, missing))} if missing else known


async def _postback_ids(conn: AsyncConnection, delivery_ids: list[str]) -> dict[str, str]:
    result = await conn.execute(select(D.id, D.postback_id).where(D.id.in_(delivery_ids)))
    return {r.id: r.postback_id for r in result}


def health(results: Sequence[AttemptResult], owners: dict[str, str]) -> dict[str, Health]:
    """Per postback: latest success and the failures of this batch."""
    out: dict[str, Health] = {}
    for r in results:
        pid = owners.get(r.attempt.delivery_id)
        if pid is None:
            continue
        h = out.setdefault(pid, Health())
        at = r.attempt.started_at
        if r.status is DeliveryStatus.DELIVERED:
            h.success = at if h.success is None else max(h.success, at)
        else:
            h.failures.append(at)
    return out


async def _update_health(conn: AsyncConnection, found: dict[str, Health]) -> None:
    ok = [(p, h) for p, h in sorted(found.items()) if h.success is not None]
    bad = [(p, h) for p, h in sorted(found.items()) if h.success is None]
    if ok:
        newer = bindparam("b_ok", type_=UTCDateTime())
        await conn.execute(
            update(postbacks)
            .where(P.id == bindparam("b_id"))
            .values(
                last_success_at=case(
                    (or_(P.last_success_at.is_(None), P.last_success_at < newer), newer),
                    else_=P.last_success_at,
                ),
                failing_since=bindparam("b_fail", type_=UTCDateTime()),
            ),
            [{"b_id": p, "b_ok": h.success, "b_fail": h.failing_since()} for p, h in ok],
        )
    if bad:
        await conn.execute(
            update(postbacks)
            .where(P.id == bindparam("b_id"))
            .values(
                failing_since=func.coalesce(
                    P.failing_since, bindparam("b_fail", type_=UTCDateTime())
                )
            ),
            [{"b_id": p, "b_fail": h.failing_since()} for p, h in bad],
        )


def last_failures(found: dict[str, Health]) -> dict[str, datetime]:
    """Per postback with failures after its latest success: the last of them."""
    return {p: t for p, h in found.items() if (t := h.last_failure()) is not None}


def dead(found: Iterable[Any], last: dict[str, datetime]) -> list[Any]:
    """Of postbacks rows (``id, owner_id, name, failing_since, disabled_reason``), those
    to disable: failing for 3 days up to their ``last`` failure, not disabled yet."""
    return [
        r
        for r in found
        if r.id in last
        and r.disabled_reason is None
        and r.failing_since is not None
        and r.failing_since <= last[r.id] - DISABLE_AFTER
    ]


async def _disable_dead(conn: AsyncConnection, found: dict[str, Health], now: datetime) -> None:
    """Disable postbacks failing for 3 days without a success, and tell their owners."""
    last = last_failures(found)
    if not last:
        return
    states = await conn.execute(
        select(P.id, P.owner_id, P.name, P.failing_since, P.disabled_reason).where(
            P.id.in_(sorted(last))
        )
    )
    await disable(conn, dead(states, last), now)


async def disable(conn: AsyncConnection, found: Iterable[Any], now: datetime) -> None:
    """Disable each postback row of :func:`dead` and leave its owner a notice."""
    for row in found:
        await _disable(conn, row, now)


async def _disable(conn: AsyncConnection, row: Any, now: datetime) -> None:
    since = f"{row.failing_since:%Y-%m-%d %H:%M} UTC"
    reason = f"every delivery attempt since {since} failed, with no success for 3 days"
    result = await conn.execute(
        update(postbacks)
        .where(P.id == row.id, P.disabled_reason.is_(None))
        .values(disabled_reason=reason, disabled_at=now, enabled=False, updated_at=now)
    )
    if result.rowcount == 0:
        return  # another worker got there first
    label = f"{row.name!r} ({row.id})" if row.name else row.id
    message = (
        f"Postback {label} was disabled: {reason}. "
        "Check the destination, then enable the postback again to resume deliveries."
    )
    await conn.execute(
        insert(notices).values(
            id=rows.new_id("ntc"), account_id=row.owner_id, created_at=now, message=message
        )
    )


async def complete(
    conn: AsyncConnection, results: Sequence[AttemptResult], now: datetime, again: bool = False
) -> None:
    """Log attempts, move leased deliveries on, track each postback's health.

    ``again``: the batch may have been written already (its commit failed with the
    connection), so attempts already in the log are left out."""
    if again:
        results = await _not_logged(conn, results)
    if not results:
        return
    await _record(conn, results, now)
    found = health(results, await _owners(conn, results))
    await _update_health(conn, found)
    await _disable_dead(conn, found, now)


async def _not_logged(
    conn: AsyncConnection, results: Sequence[AttemptResult]
) -> list[AttemptResult]:
    ids = sorted({r.attempt.delivery_id for r in results})
    found = await conn.execute(
        select(attempts.c.delivery_id, attempts.c.number).where(attempts.c.delivery_id.in_(ids))
    )
    logged = {(r.delivery_id, r.number) for r in found}
    return [r for r in results if (r.attempt.delivery_id, r.attempt.number) not in logged]


async def release(conn: AsyncConnection, worker_id: str, delivery_ids: Sequence[str]) -> int:
    """End this worker's leases on deliveries it claimed but did not send."""
    if not delivery_ids:
        return 0
    result = await conn.execute(
        update(deliveries)
        .where(D.id.in_(sorted(delivery_ids)), D.lease_owner == worker_id)
        .values(lease_owner=None, lease_until=None)
    )
    return int(result.rowcount or 0)


# -- waiting ---------------------------------------------------------------------------------


def _next_due_query(skip: bool = False) -> Select[Any]:
    """The earliest unblocked due time and lease end, as one row of two subqueries.

    A lease is only ever taken on a due delivery, so leased rows lie in the claim
    index's range ``due_at <= :now``: bounding the search by it reads the due rows
    alone, not every open delivery (a dead destination's backlog pushed into the future
    would otherwise be read each time a worker runs out of work). A lease taken by a
    worker whose clock runs ahead can fall outside; it is found on a later look (a
    worker idles for at most ``idle_wait``)."""
    waiting = (
        select(D.due_at)
        .where(
            _open_status(WAITING),
            D.lease_owner.is_(None),
            _active(),
            _not_blocked(),
            *_destinations(skip, False),
        )
        .order_by(D.due_at)
        .limit(1)
        .scalar_subquery()
    )
    leased = (
        select(D.lease_until)
        .where(
            _open_status(),
            D.lease_owner.is_not(None),
            D.due_at <= NOW,
            _active(),
            _not_blocked(),
            *_destinations(skip, False),
        )
        .order_by(D.lease_until)
        .limit(1)
        .scalar_subquery()
    )
    return select(waiting.label("waiting"), leased.label("leased"))


NEXT_DUE = _next_due_query()
NEXT_DUE_SKIPPING = _next_due_query(skip=True)


async def next_due_at(
    conn: AsyncConnection, now: datetime, skip: frozenset[str] = frozenset()
) -> datetime | None:
    """When the next claim could find work: the earliest unblocked due time or lease end
    (of deliveries to destinations other than ``skip``)."""
    if skip:
        row = (await conn.execute(NEXT_DUE_SKIPPING, {"now": now, "skip": sorted(skip)})).one()
    else:
        row = (await conn.execute(NEXT_DUE, {"now": now})).one()
    return min((t for t in (row.waiting, row.leased) if t is not None), default=None)


# -- backlog (metrics) -----------------------------------------------------------------------


def _backlog_query() -> Select[Any]:
    """How many open deliveries are due (up to a cap, read off the claim index), and the
    earliest due time among them."""
    due = select(D.due_at).where(_open_status(), D.due_at <= NOW)
    capped = due.limit(bindparam("cap", type_=Integer())).subquery()
    oldest = due.order_by(D.due_at).limit(1).scalar_subquery()
    count = select(func.count()).select_from(capped).scalar_subquery()
    return select(count.label("count"), oldest.label("oldest"))


BACKLOG = _backlog_query()


async def backlog(conn: AsyncConnection, now: datetime, cap: int) -> tuple[int, datetime | None]:
    """(due deliveries, counted up to ``cap``; when the oldest of them fell due)."""
    row = (await conn.execute(BACKLOG, {"now": now, "cap": cap})).one()
    return int(row.count or 0), row.oldest
