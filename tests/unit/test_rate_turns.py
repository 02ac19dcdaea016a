"""Pure rate-limit planning: turns of deliveries that must wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from postback.delivery.ratelimit import RateState, plan, turn_due
from postback.storage.claim_queries import Candidate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def _candidates(n: int, rate: float | None = 10.0) -> list[Candidate]:
    return [Candidate(f"d{i}", "pb", None, rate, None, None) for i in range(n)]


def test_a_turn_falls_due_on_the_quarter_second_before_it() -> None:
    assert turn_due(NOW + 260 * MS) == NOW + 250 * MS
    assert turn_due(NOW + 250 * MS) == NOW + 250 * MS
    assert turn_due(NOW + 249 * MS) == NOW


def test_the_queue_continues_where_it_ended() -> None:
    state = RateState(tat=NOW + 1100 * MS, queued_until=NOW + 3000 * MS)
    out = plan(_candidates(3), {"pb": state}, NOW)
    assert out.send == []
    assert [at for _, at in out.later] == [NOW + 3000 * MS, NOW + 3000 * MS, NOW + 3000 * MS]
    assert out.states["pb"] == RateState(NOW + 1100 * MS, NOW + 3300 * MS)


def test_an_ended_queue_starts_again_at_the_next_free_slot() -> None:
    out = plan(_candidates(13), {"pb": RateState(None, NOW - 5000 * MS)}, NOW)
    assert len(out.send) == 11  # now and ten more within the one-second horizon
    assert [at for _, at in out.later] == [NOW + 1000 * MS, NOW + 1000 * MS]
    assert out.states["pb"] == RateState(NOW + 1100 * MS, NOW + 1300 * MS)


def test_unlimited_postbacks_keep_no_state() -> None:
    out = plan(_candidates(3, rate=None), {}, NOW)
    assert [at for _, at in out.send] == [NOW] * 3
    assert out.states == {}
