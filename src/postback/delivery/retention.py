"""Retention: old attempts, with their stored replies, deleted in small batches.

Attempts older than ``POSTBACK_RETENTION_DAYS`` go, by a periodic job in the workers and
by `postback prune`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from postback.config import Settings
from postback.delivery.queue import QueueUpkeep
from postback.errors import PostbackError

log = logging.getLogger("postback.delivery.retention")
BATCH = 500  # rows per transaction: short enough not to hold up the workers' writes
PAUSE = 0.05  # seconds between batches, leaving the database to the senders
BUSY_PAUSE = 1.0  # seconds between batches while the worker has more due than it sends

Busy = Callable[[], bool]


def never_busy() -> bool:
    return False


def cutoff(now: datetime, days: float) -> datetime:
    """Attempts that started before this are deleted."""
    return now - timedelta(days=days)


def may_go_on(busy: bool, waited: float, busy_pause: float) -> bool:
    """Whether the next batch may start, ``waited`` seconds after the last one: at once
    when the worker keeps up, else not before ``busy_pause`` (so sending comes first,
    and deleting still goes on at one batch per ``busy_pause`` at least)."""
    return not busy or waited >= busy_pause


async def prune(
    store: QueueUpkeep,
    before: datetime,
    stop: asyncio.Event | None = None,
    *,
    batch: int = BATCH,
    pause: float = PAUSE,
    busy: Busy = never_busy,
    busy_pause: float = BUSY_PAUSE,
) -> int | None:
    """Delete every attempt started before ``before``, batch by batch (until ``stop``),
    a batch every ``pause`` seconds, or every ``busy_pause`` while ``busy()``; how many,
    or None when another process was pruning already."""
    total = 0
    while stop is None or not stop.is_set():
        deleted = await store.prune_attempts(before, batch)
        if deleted is None:
            return None if total == 0 else total
        total += deleted
        if deleted < batch:
            break
        await _rest(pause, busy, busy_pause, stop)
    return total


async def _rest(pause: float, busy: Busy, busy_pause: float, stop: asyncio.Event | None) -> None:
    """Sleep ``pause``, then on in steps of ``pause`` for as long as ``may_go_on`` says
    (or until ``stop``)."""
    clock = asyncio.get_running_loop().time
    began = clock()
    while True:
        await asyncio.sleep(pause)
        if (stop is not None and stop.is_set()) or may_go_on(busy(), clock() - began, busy_pause):
            return


async def run_periodically(
    store: QueueUpkeep, settings: Settings, stop: asyncio.Event, busy: Busy = never_busy
) -> None:
    """The workers' job: prune every ``retention_interval`` seconds until ``stop``, giving
    way to the worker while ``busy()`` (more is due than it is sending)."""
    if not settings.retention_days:
        return
    while not stop.is_set():
        before = cutoff(datetime.now(UTC), settings.retention_days)
        try:
            deleted = await prune(store, before, stop, busy=busy)
        except PostbackError as exc:
            log.warning("could not delete old attempts: %s", exc)
        else:
            if deleted:
                log.info("deleted %d attempts started before %s", deleted, before.isoformat())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.retention_interval)
