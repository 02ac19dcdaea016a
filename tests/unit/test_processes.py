"""`--processes N`: how many processes deliver, and when a failed child starts again."""

from __future__ import annotations

import pytest

from postback.cli.processes import RestartPolicy, count_for, restart_delay
from postback.errors import ConfigError

PG = "postgresql://postgres@127.0.0.1/postback"
SQLITE = "sqlite:///data/postback.db"


def test_the_default_is_one_process_per_core_on_postgresql() -> None:
    assert count_for(PG, None, 2) == 2
    assert count_for(PG, None, 16) == 16
    assert count_for(PG, None, 0) == 1


def test_the_default_on_sqlite_is_one_process() -> None:
    assert count_for(SQLITE, None, 8) == 1


def test_an_asked_count_is_kept() -> None:
    assert count_for(PG, 3, 2) == 3
    assert count_for(PG, 1, 8) == 1
    assert count_for(SQLITE, 1, 8) == 1


def test_more_than_one_process_on_sqlite_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"--processes 2: SQLite takes one writer"):
        count_for(SQLITE, 2, 8)


def test_zero_processes_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--processes 0"):
        count_for(PG, 0, 2)


POLICY = RestartPolicy(window=60.0, max_failures=3, first_delay=0.5, max_delay=3.0)


def test_the_pause_before_a_restart_doubles_with_each_recent_failure() -> None:
    assert restart_delay([100.0], 100.0, POLICY) == 0.5
    assert restart_delay([90.0, 100.0], 100.0, POLICY) == 1.0
    assert restart_delay([80.0, 90.0, 100.0], 100.0, POLICY) == 2.0


def test_the_pause_is_capped() -> None:
    policy = RestartPolicy(window=60.0, max_failures=10, first_delay=0.5, max_delay=3.0)
    assert restart_delay([float(t) for t in range(8)], 7.0, policy) == 3.0


def test_too_many_failures_within_the_window_give_up() -> None:
    assert restart_delay([70.0, 80.0, 90.0, 100.0], 100.0, POLICY) is None


def test_failures_older_than_the_window_are_forgotten() -> None:
    assert restart_delay([0.0, 10.0, 20.0, 100.0], 100.0, POLICY) == 0.5
