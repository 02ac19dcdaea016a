"""The delivery queue as a worker sees it: claims, results and the store calls it makes.

Storage implements this protocol; the worker needs nothing else from a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from postback.config import Network
from postback.domain.records import Attempt, DeliveryStatus, Event, Postback, RenderedRequest


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery leased to one worker, with what the worker needs to send and judge it."""

    delivery_id: str
    postback_id: str
    request: RenderedRequest
    attempt_number: int  # the number this attempt will have (1-based, whole life)
    retry_round_attempt: int  # attempts since the last (re)delivery, this one included
    send_at: datetime  # rate-limit slot reserved for this send; not before it
    lease_until: datetime
    success_response: str | None
    error_response: str | None
    signing_secrets: tuple[str, ...] = ()  # empty: send unsigned (signing off)
    postback_kind: str = ""  # for metrics
    event_id: str = ""  # for logs, and to render again from the stored event
    postback_version: int = 1  # the version ``request`` was rendered with
    current_version: int = 1  # the version to send with (the postback's now, but a resend
    # as sent keeps its own): another than postback_version means render again
    replaces: RenderedRequest | None = None  # set by a worker that rendered ``request``
    # anew: the stored request it replaces
    allowed_networks: tuple[Network, ...] = ()  # the owning account's, besides the operator's


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What the worker learnt from one attempt, and the decision taken on it."""

    attempt: Attempt
    status: DeliveryStatus  # DELIVERED, RETRYING or FAILED
    next_due_at: datetime | None  # for RETRYING
    worker_id: str  # the lease holder; a stale holder's status change is ignored
    postback_id: str | None = None  # the claim's (saves looking it up again)
    # Set when the worker rendered the request anew from the current postback: the
    # delivery stores it (unredacted) with the attempt's postback version; when it
    # differs, ``replaced`` is the old one (redacted), which earlier attempts keep.
    rendered: RenderedRequest | None = None
    replaced: RenderedRequest | None = None


@dataclass(frozen=True, slots=True)
class Destinations:
    """Which destinations a claim may take: any but ``skip`` (this worker's circuit
    breakers for them are open), or only ``only`` (a breaker's probe)."""

    skip: frozenset[str] = frozenset()
    only: str | None = None


ALL_DESTINATIONS = Destinations()


@dataclass(frozen=True, slots=True)
class Skip:
    """Deliveries not sent because their destination's circuit breaker is open: every
    due one of ``destination`` moves to ``until`` with a *skipped* attempt saying
    ``error``; ``claimed`` are the worker's own leased ones among them."""

    destination: str
    until: datetime
    error: str
    worker_id: str
    claimed: tuple[str, ...] = ()


class WorkQueue(Protocol):
    """What a worker calls: claim due work, report results, give back unsent claims."""

    async def claim(
        self,
        worker_id: str,
        now: datetime,
        limit: int,
        lease_seconds: float,
        where: Destinations = ALL_DESTINATIONS,
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries, oldest first, honouring per-action order
        and each postback's rate limit (slots reserved in the database)."""
        ...

    async def skip_destination(self, skip: Skip, now: datetime, limit: int) -> int:
        """Log a *skipped* attempt for up to ``limit`` due deliveries of the destination
        (oldest first, as a claim would take them) and move them to ``skip.until``, in
        one transaction; the worker's ``claimed`` ones are given back first. The skip
        takes a number in the delivery's log but not a try of its retry schedule.
        Returns how many moved."""
        ...

    async def complete(self, results: Sequence[AttemptResult], again: bool = False) -> None:
        """Log the attempts and move each delivery to its new status, in one transaction.

        ``again``: a retry of a batch whose earlier commit may have gone through;
        attempts already logged are not logged twice."""
        ...

    async def release(self, worker_id: str, delivery_ids: Sequence[str]) -> int:
        """End ``worker_id``'s leases on deliveries it claimed but never sent."""
        ...

    async def next_due_at(self, skip: frozenset[str] = frozenset()) -> datetime | None:
        """When the next claim could find work (leaving out ``skip``'s destinations)."""
        ...

    async def wait_for_work(self, max_wait: float) -> None:
        """Return when new deliveries may be due (NOTIFY / in-process wake-up) or on timeout."""
        ...

    async def get_event(self, event_id: str) -> Event:
        """The stored event, to render a retry again from the postback as it is now."""
        ...

    async def get_postback(self, postback_id: str, owner_id: str | None) -> Postback: ...


class QueueUpkeep(WorkQueue, Protocol):
    """What the processes around the workers call: backlog for metrics, retention."""

    async def due_backlog(self, now: datetime, cap: int) -> tuple[int, datetime | None]:
        """Due, unfinished deliveries (counted up to ``cap``) and the oldest due time."""
        ...

    async def count_old_attempts(self, before: datetime) -> int:
        """Attempts (with their replies) started before ``before``: what pruning removes."""
        ...

    async def prune_attempts(self, before: datetime, limit: int) -> int | None:
        """Delete up to ``limit`` attempts started before ``before``; None when another
        process is pruning (PostgreSQL)."""
        ...
