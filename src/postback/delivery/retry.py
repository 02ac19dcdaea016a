"""What happens after an attempt: a pure function of the attempt, the reply and ``now``.

The policy (the table is in ``docs/retry-schedule.md``):

* at most :data:`MAX_ATTEMPTS` attempts; after attempt *n* (1-based) fails, the next one
  waits ``SCHEDULE[n - 1]``: 30 s doubling each time, capped at 18 h, 70 h 07 m 30 s
  in all, about three days;
* jitter spreads each wait over ``[0.5, 1.5)`` times its nominal value (``rand`` in
  ``[0, 1)`` comes from the caller, so this module is deterministic); the mean stays
  nominal, so a delivery gives up about three days after its first attempt;
* ``Retry-After`` (seconds or an HTTP-date, relative to ``now``), bounded to
  ``[1 s, 6 h]``, is a floor: the next attempt is never earlier than the destination
  asked, and never earlier than the schedule (a destination answering
  ``Retry-After: 1`` forever would otherwise use all fifteen attempts in a quarter of
  a minute instead of three days);
* never retried, because a retry cannot help: an invalid URL, a request the HTTP client
  refuses (a header it will not send), a blocked address, a host name that does not
  exist, and a 4xx status other than 408 and 429: the same request hits them every time.

The module never reads the clock and never sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from postback.delivery.outcome import Outcome
from postback.domain.records import DeliveryStatus, FailureReason

MAX_ATTEMPTS = 15
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=18)
SCHEDULE: tuple[timedelta, ...] = tuple(
    min(BASE_DELAY * 2**n, MAX_DELAY) for n in range(MAX_ATTEMPTS - 1)
)
JITTER_LOW = 0.5  # a wait is nominal * (JITTER_LOW + rand), rand in [0, 1)
RETRY_AFTER_MIN = timedelta(seconds=1)
RETRY_AFTER_MAX = timedelta(hours=6)

PERMANENT_FAILURES = frozenset(
    {
        FailureReason.INVALID_URL,
        FailureReason.INVALID_REQUEST,
        FailureReason.BLOCKED_ADDRESS,
        FailureReason.DNS,
    }
)
RETRIED_4XX = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to try again, when, and the delivery's status meanwhile."""

    retry: bool
    next_at: datetime | None
    final_status: DeliveryStatus


def decide(  # noqa: PLR0917 -- the worker passes six facts positionally
    attempt: int,
    outcome: Outcome,
    status: int | None,
    retry_after: str | None,
    now: datetime,
    rand: float,
) -> Decision:
    """Decide after attempt number ``attempt`` (1-based) ended with ``outcome``.

    ``status`` is the reply's HTTP status and ``retry_after`` its raw ``Retry-After``
    header (``None`` without a reply); ``rand`` is a uniform draw from ``[0, 1)``.
    ``attempt`` counts the attempts of the current run of the schedule: a worker that
    wants a redelivery to get a full schedule again counts from the redelivery.
    """
    if attempt < 1 or not 0.0 <= rand < 1.0:
        raise ValueError(f"attempt must be >= 1 and rand in [0, 1): {attempt=}, {rand=}")
    if outcome.delivered:
        return Decision(retry=False, next_at=None, final_status=DeliveryStatus.DELIVERED)
    if attempt >= MAX_ATTEMPTS or not is_retryable(outcome.reason, status):
        return Decision(retry=False, next_at=None, final_status=DeliveryStatus.FAILED)
    wait = max(backoff(attempt, rand), _floor(retry_after_delay(retry_after, now)))
    return Decision(retry=True, next_at=now + wait, final_status=DeliveryStatus.RETRYING)


def is_retryable(reason: FailureReason | None, status: int | None) -> bool:
    """Whether another attempt could succeed after this failure."""
    if reason in PERMANENT_FAILURES:
        return False
    if reason is FailureReason.STATUS and status is not None:
        return not 400 <= status <= 499 or status in RETRIED_4XX
    return True


def backoff(attempt: int, rand: float) -> timedelta:
    """The jittered wait after failed attempt ``attempt``: nominal * [0.5, 1.5)."""
    return SCHEDULE[attempt - 1] * (JITTER_LOW + rand)


def retry_after_delay(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` value as a wait from ``now``, bounded to [1 s, 6 h]; else None.

    Seconds (``120``) or an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``); a date in the
    past gives 1 s; anything unreadable gives ``None`` (ignored).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        cap = int(RETRY_AFTER_MAX.total_seconds())
        # A huge number is just "a long time"; int() of thousands of digits would raise.
        seconds = min(int(text), cap) if len(text) <= 9 else cap
        return _bounded(timedelta(seconds=seconds))
    when = _http_date(text)
    return None if when is None else _bounded(when - _aware(now))


def _http_date(text: str) -> datetime | None:
    try:
        return _aware(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        return None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _bounded(wait: timedelta) -> timedelta:
    return min(max(wait, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def _floor(wait: timedelta | None) -> timedelta:
    return timedelta(0) if wait is None else wait
