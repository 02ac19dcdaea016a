"""Per-destination rate limiting as pure arithmetic (GCRA, burst of one).

The state is one timestamp per postback, the *theoretical arrival time* (TAT): the
earliest moment the next request may go. The store keeps it in the database, so the
limit holds across every worker process; this module only does the arithmetic, taking
``now`` as an argument and never reading the clock.

Written by hand because it is three lines of arithmetic whose state must live in our
own table; the rate-limiting libraries keep their state in memory or Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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
