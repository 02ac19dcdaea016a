"""The clock every layer takes as an argument: ``Clock`` and the real one, ``utcnow``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, in UTC (decisions take ``now`` as an argument; only callers read the clock)."""
    return datetime.now(UTC)
