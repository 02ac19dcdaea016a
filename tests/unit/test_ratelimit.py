from __future__ import annotations

from datetime import UTC, datetime, timedelta

from postback.delivery.ratelimit import reserve

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_no_limit_grants_everything_now() -> None:
    r = reserve(None, NOW, None, 5, SECOND)
    assert r.slots == (NOW,) * 5


def test_slots_are_spaced_by_the_rate_and_bounded_by_the_horizon() -> None:
    r = reserve(None, NOW, 10.0, 100, SECOND)
    assert len(r.slots) == 11  # 0.0 s .. 1.0 s inclusive
    assert r.slots[1] - r.slots[0] == timedelta(milliseconds=100)
    assert r.tat == NOW + timedelta(milliseconds=1100)


def test_state_carries_over_between_reservations() -> None:
    first = reserve(None, NOW, 2.0, 1, SECOND)
    second = reserve(first.tat, NOW, 2.0, 5, SECOND)
    assert second.slots == (NOW + timedelta(milliseconds=500), NOW + SECOND)


def test_a_stale_tat_does_not_grant_a_burst() -> None:
    r = reserve(NOW - timedelta(hours=1), NOW, 1.0, 3, SECOND)
    assert r.slots == (NOW, NOW + SECOND)


def test_nothing_granted_when_the_next_slot_is_past_the_horizon() -> None:
    r = reserve(NOW + 5 * SECOND, NOW, 1.0, 3, SECOND)
    assert r.slots == ()
    assert r.next_free == NOW + 5 * SECOND
    assert r.tat == NOW + 5 * SECOND
