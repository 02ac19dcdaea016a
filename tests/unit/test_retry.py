from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise

import pytest

from postback.delivery.outcome import DELIVERED, Outcome
from postback.delivery.retry import (
    MAX_ATTEMPTS,
    RETRY_AFTER_MAX,
    SCHEDULE,
    Decision,
    decide,
    retry_after_delay,
)
from postback.domain.records import DeliveryStatus, FailureReason

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
ALMOST_ONE = 0.999999


def failed(reason: FailureReason) -> Outcome:
    return Outcome(delivered=False, reason=reason, detail=reason.value)


STATUS = failed(FailureReason.STATUS)
TIMEOUT = failed(FailureReason.TIMEOUT)


def test_schedule_has_one_wait_per_retry_and_lasts_about_three_days() -> None:
    assert MAX_ATTEMPTS == 15
    assert len(SCHEDULE) == MAX_ATTEMPTS - 1
    total = sum(SCHEDULE, timedelta())
    assert timedelta(hours=72) * 0.9 <= total <= timedelta(hours=72) * 1.1
    assert total == timedelta(hours=70, minutes=7, seconds=30)


def test_schedule_starts_fast_and_never_shrinks() -> None:
    assert SCHEDULE[0] == timedelta(seconds=30)
    assert SCHEDULE[1] == timedelta(minutes=1)
    assert all(a <= b for a, b in pairwise(SCHEDULE))
    assert max(SCHEDULE) == timedelta(hours=18)


def test_delivered_is_final() -> None:
    assert decide(1, DELIVERED, 200, None, NOW, 0.5) == Decision(
        retry=False, next_at=None, final_status=DeliveryStatus.DELIVERED
    )


@pytest.mark.parametrize("attempt", range(1, MAX_ATTEMPTS))
def test_retryable_failure_waits_the_nominal_delay_at_mid_jitter(attempt: int) -> None:
    decision = decide(attempt, TIMEOUT, None, None, NOW, 0.5)
    assert decision.retry
    assert decision.final_status is DeliveryStatus.RETRYING
    assert decision.next_at == NOW + SCHEDULE[attempt - 1]


@pytest.mark.parametrize("attempt", [1, 7, 14])
def test_jitter_spans_half_to_one_and_a_half_times_nominal(attempt: int) -> None:
    nominal = SCHEDULE[attempt - 1]
    low = decide(attempt, TIMEOUT, None, None, NOW, 0.0).next_at
    high = decide(attempt, TIMEOUT, None, None, NOW, ALMOST_ONE).next_at
    assert low == NOW + nominal / 2
    assert high is not None
    assert NOW + nominal * 1.49 < high < NOW + nominal * 1.5


def test_fifteenth_attempt_fails_for_good() -> None:
    assert decide(14, TIMEOUT, None, None, NOW, 0.5).retry
    assert decide(15, TIMEOUT, None, None, NOW, 0.5) == Decision(
        retry=False, next_at=None, final_status=DeliveryStatus.FAILED
    )
    assert decide(16, TIMEOUT, None, None, NOW, 0.5).final_status is DeliveryStatus.FAILED


@pytest.mark.parametrize(
    "reason",
    [
        FailureReason.INVALID_URL,
        FailureReason.INVALID_REQUEST,
        FailureReason.BLOCKED_ADDRESS,
        FailureReason.DNS,
    ],
)
def test_hopeless_transport_failures_are_not_retried(reason: FailureReason) -> None:
    decision = decide(1, failed(reason), None, None, NOW, 0.5)
    assert decision == Decision(retry=False, next_at=None, final_status=DeliveryStatus.FAILED)


@pytest.mark.parametrize(
    "reason",
    [
        FailureReason.TIMEOUT,
        FailureReason.CONNECTION,
        FailureReason.PROTOCOL,
        FailureReason.SUCCESS_TEXT_MISSING,
        FailureReason.ERROR_TEXT_FOUND,
    ],
)
def test_other_failures_are_retried(reason: FailureReason) -> None:
    status = None if reason in {FailureReason.TIMEOUT, FailureReason.CONNECTION} else 200
    assert decide(1, failed(reason), status, None, NOW, 0.5).retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 413, 422, 451, 499])
def test_client_errors_are_not_retried(status: int) -> None:
    decision = decide(1, STATUS, status, None, NOW, 0.5)
    assert decision.final_status is DeliveryStatus.FAILED
    assert not decision.retry


@pytest.mark.parametrize("status", [408, 429, 300, 302, 500, 502, 503, 504, 599])
def test_timeouts_rate_limits_redirects_and_server_errors_are_retried(status: int) -> None:
    assert decide(1, STATUS, status, None, NOW, 0.5).retry


def test_retry_after_seconds_sets_a_later_next_attempt() -> None:
    decision = decide(1, STATUS, 429, "120", NOW, 0.5)
    assert decision.next_at == NOW + timedelta(seconds=120)


def test_retry_after_http_date_is_relative_to_now() -> None:
    when = format_datetime(NOW + timedelta(minutes=10), usegmt=True)
    assert decide(1, STATUS, 503, when, NOW, 0.5).next_at == NOW + timedelta(minutes=10)


def test_retry_after_never_brings_the_next_attempt_forward() -> None:
    # the schedule says 64 min after attempt 8; "5 s" does not shorten it
    assert decide(8, STATUS, 429, "5", NOW, 0.5).next_at == NOW + SCHEDULE[7]


def test_retry_after_is_capped_at_six_hours() -> None:
    assert decide(1, STATUS, 429, "86400", NOW, 0.5).next_at == NOW + timedelta(hours=6)
    far = format_datetime(NOW + timedelta(days=30), usegmt=True)
    assert decide(1, STATUS, 503, far, NOW, 0.5).next_at == NOW + RETRY_AFTER_MAX


def test_retry_after_does_not_make_a_hopeless_failure_retried() -> None:
    assert not decide(1, STATUS, 404, "10", NOW, 0.5).retry
    assert not decide(MAX_ATTEMPTS, STATUS, 429, "10", NOW, 0.5).retry


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 7 ", timedelta(seconds=7)),
        ("0", timedelta(seconds=1)),  # lower bound
        ("99999999999999999999999", timedelta(hours=6)),  # upper bound, no overflow
        ("Mon, 23 Nov 2026 12:00:30 GMT", timedelta(seconds=30)),
        ("Mon, 23 Nov 2026 12:00:30 -0000", timedelta(seconds=30)),  # naive: taken as UTC
        ("Mon, 23 Nov 2026 13:00:30 +0100", timedelta(seconds=30)),
        ("Sun, 22 Nov 2026 12:00:00 GMT", timedelta(seconds=1)),  # in the past
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("\u00b2", None),  # a digit to str.isdigit, not a number
    ],
)
def test_retry_after_values(value: str | None, expected: timedelta | None) -> None:
    assert retry_after_delay(value, NOW) == expected


def test_unreadable_retry_after_falls_back_to_the_schedule() -> None:
    assert decide(3, STATUS, 503, "soon", NOW, 0.5).next_at == NOW + SCHEDULE[2]


@pytest.mark.parametrize(("attempt", "rand"), [(0, 0.5), (1, 1.0), (1, -0.1)])
def test_bad_arguments_are_refused(attempt: int, rand: float) -> None:
    with pytest.raises(ValueError, match="attempt"):
        decide(attempt, TIMEOUT, None, None, NOW, rand)


def test_retry_after_with_thousands_of_digits_is_the_longest_wait() -> None:
    from datetime import UTC, datetime

    from postback.delivery.retry import RETRY_AFTER_MAX, retry_after_delay

    assert retry_after_delay("9" * 5000, datetime(2026, 1, 1, tzinfo=UTC)) == RETRY_AFTER_MAX
