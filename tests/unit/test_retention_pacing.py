"""The retention job's pacing: it gives way to a busy worker, but never stops for good."""

from __future__ import annotations

import pytest

from postback.delivery.retention import may_go_on


@pytest.mark.parametrize(
    ("busy", "waited", "goes_on"),
    [
        (False, 0.0, True),  # the worker keeps up: the next batch at once
        (False, 0.05, True),
        (True, 0.05, False),  # more is due than the worker sends: sending first
        (True, 0.99, False),
        (True, 1.0, True),  # ... but one batch per busy pause still goes
        (True, 5.0, True),
    ],
)
def test_the_next_batch_waits_only_while_the_worker_is_busy(
    busy: bool, waited: float, goes_on: bool
) -> None:
    assert may_go_on(busy, waited, busy_pause=1.0) is goes_on
