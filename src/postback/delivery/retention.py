"""Retention: old attempts, with their stored replies, deleted in small batches.

Attempts older than ``POSTBACK_RETENTION_DAYS`` go, by a periodic job in the workers and
by `postback prune`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from postback.config import Settings
from postback.delivery.queue import QueueUpkeep
from postback.errors import PostbackError

log = logging.getLogger("postback.delivery.retention")
BATCH = 500  # rows per transaction: short enough not to hold up the workers' writes
PAUSE = 0.05  # seconds between batches, leaving the database to the senders


def cutoff(now: datetime, days: float) -> datetime:
    """Attempts that started before this are deleted."""
    return now - timedelta(days=days)


async def prune(
    store: QueueUpkeep,
    before: datetime,
    stop: asyncio.Event | None = None,
    batch: int = BATCH,
    pause: float = PAUSE,
) -> int | None:
    """Delete every attempt started before ``before``, batch by batch (until ``stop``);
    how many, or None when another process was pruning already."""
    total = 0
    while stop is None or not stop.is_set():
        deleted = await store.prune_attempts(before, batch)
        if deleted is None:
            return None if total == 0 else total
        total += deleted
        if deleted < batch:
            break
        await asyncio.sleep(pause)
    return total


async def run_periodically(store: QueueUpkeep, settings: Settings, stop: asyncio.Event) -> None:
    """The workers' job: prune every ``retention_interval`` seconds until ``stop``."""
    if not settings.retention_days:
        return
    while not stop.is_set():
        before = cutoff(datetime.now(UTC), settings.retention_days)
        try:
            deleted = await prune(store, before, stop)
        except PostbackError as exc:
            log.warning("could not delete old attempts: %s", exc)
        else:
            if deleted:
                log.info("deleted %d attempts started before %s", deleted, before.isoformat())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.retention_interval)
