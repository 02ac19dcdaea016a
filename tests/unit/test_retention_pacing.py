"""The retention job's pacing: it rests in proportion to how long a batch took."""

from __future__ import annotations

import pytest

from postback.delivery import retention


def test_a_slow_batch_earns_a_longer_rest() -> None:
    assert retention.rest(0.1) == pytest.approx(0.4)
    assert retention.rest(0.5) == pytest.approx(2.0)
    assert retention.rest(0.0) == 0.0


def test_the_duty_share_sets_the_ratio() -> None:
    assert retention.rest(1.0, duty=0.5) == pytest.approx(1.0)
