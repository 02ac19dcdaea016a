"""Per-destination rate limiting as pure arithmetic (GCRA, burst of one).

The state is one timestamp per postback, the *theoretical arrival time* (TAT): the
earliest moment the next request may go. The store keeps it in the database, so the
limit holds across every worker process; this module only does the arithmetic, taking
``now`` as an argument and never reading the clock.

Written by hand because it is three lines of arithmetic whose state must live in our
own table; the rate-limiting libraries keep their state in memory or Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

HORIZON = timedelta(seconds=1)  # how far ahead a claim reserves slots


class Waiting(Protocol):
    """A due delivery as the planner sees it: its id, its postback and that postback's rate."""

    @property
    def id(self) -> str: ...
    @property
    def postback_id(self) -> str: ...
    @property
    def rate(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Reservation:
    slots: tuple[datetime, ...]  # send times granted, one per request, ascending
    tat: datetime  # the new state to store
    next_free: datetime  # when the first request not granted could go


def interval(max_per_second: float) -> timedelta:
    return timedelta(seconds=1.0 / max_per_second)


def reserve(
    tat: datetime | None,
    now: datetime,
    max_per_second: float | None,
    wanted: int,
    horizon: timedelta,
) -> Reservation:
    """Grant up to ``wanted`` evenly spaced send times that fall before ``now + horizon``.

    With no limit every request may go now. Otherwise request *k* goes at
    ``max(tat, now) + k / rate``; the granted ones advance the stored TAT.
    """
    if max_per_second is None or max_per_second <= 0:
        return Reservation(slots=(now,) * wanted, tat=now, next_free=now)
    step = interval(max_per_second)
    first = now if tat is None or tat < now else tat
    limit = now + horizon
    slots: list[datetime] = []
    slot = first
    while len(slots) < wanted and slot <= limit:
        slots.append(slot)
        slot += step
    return Reservation(slots=tuple(slots), tat=slot if slots else first, next_free=slot)


C = TypeVar("C", bound=Waiting)


# -- planning a claim: which candidates go now, which wait for their turn --------------


QUANTUM = timedelta(milliseconds=250)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RateState:
    """A rate-limited postback's row: the GCRA state, and where its queue of deliveries
    pushed back for their turn ends (their turns are handed out from there)."""

    tat: datetime | None = None
    queued_until: datetime | None = None


@dataclass
class Plan(Generic[C]):
    """Which candidates go (and when), which wait for their turn, and the new states."""

    send: list[tuple[C, datetime]] = field(default_factory=list)
    later: list[tuple[str, datetime]] = field(default_factory=list)
    states: dict[str, RateState] = field(default_factory=dict)


def turn_due(slot: datetime) -> datetime:
    """When a delivery waiting for ``slot`` falls due again: the slot, rounded down to a
    quarter second, so one claim a quarter second takes a queue's next turns together
    (the reservation horizon is longer, so each still gets its own slot)."""
    return slot - (slot - EPOCH) % QUANTUM


def plan(candidates: Sequence[C], states: dict[str, RateState], now: datetime) -> Plan[C]:
    """Reserve rate-limit slots per postback; the rest are pushed to their estimated turn.

    Turns continue from where the postback's queue ends, so a backlog is pushed back
    once, each delivery to about its own turn, rather than claimed and pushed back
    again and again while it waits."""
    out: Plan[C] = Plan()
    groups: dict[str, list[C]] = {}
    for cand in candidates:
        groups.setdefault(cand.postback_id, []).append(cand)
    for pid, group in groups.items():
        rate = group[0].rate
        if rate is None or rate <= 0:
            out.send.extend((c, now) for c in group)
            continue
        state = states.get(pid, RateState())
        res = reserve(state.tat, now, rate, len(group), HORIZON)
        out.send.extend(zip(group, res.slots, strict=False))
        out.states[pid] = _queue(out, group[len(res.slots) :], res, state, rate)
    return out


def _queue(
    out: Plan[C],
    waiting: Sequence[C],
    res: Reservation,
    state: RateState,
    rate: float,
) -> RateState:
    """Push ``waiting`` to their turns after the postback's queue; the new state."""
    if not waiting:
        return RateState(res.tat, state.queued_until)
    step = interval(rate)
    start = max(res.next_free, state.queued_until or res.next_free)
    out.later.extend((c.id, turn_due(start + i * step)) for i, c in enumerate(waiting))
    return RateState(res.tat, start + len(waiting) * step)
