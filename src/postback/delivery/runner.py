"""Delivery workers inside `postback serve`, with the backlog gauges and retention."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from postback.config import Settings
from postback.delivery import retention
from postback.delivery.metrics import BACKLOG, BACKLOG_CAP, OLDEST_DUE_AGE
from postback.delivery.queue import QueueUpkeep
from postback.delivery.transport import AioHttpTransport
from postback.delivery.worker import Worker, WorkerOptions, lease_for
from postback.errors import PostbackError

log = logging.getLogger("postback.worker")
Stopper = Callable[[], Awaitable[None]]
BACKLOG_EVERY = 5.0  # seconds between backlog measurements


def freeze_start_up() -> None:
    """Keep what start-up made (modules, the app, the engine), which lives as long as the
    process, out of the garbage collector's full passes: they would otherwise walk it all,
    again and again, stalling every delivery in flight meanwhile."""
    gc.freeze()


def options_for(settings: Settings) -> WorkerOptions:
    return WorkerOptions(
        lease_seconds=settings.lease_seconds or lease_for(settings.total_timeout),
        per_destination=settings.per_host_concurrency,  # as many as the connections per host
    )


async def watch_backlog(
    store: QueueUpkeep, stop: asyncio.Event, every: float = BACKLOG_EVERY
) -> None:
    """Set the backlog gauges from one cheap query every ``every`` seconds until ``stop``."""
    while not stop.is_set():
        now = datetime.now(UTC)
        try:
            count, oldest = await store.due_backlog(now, BACKLOG_CAP)
        except PostbackError as exc:
            log.warning("could not measure the backlog: %s", exc)
        else:
            BACKLOG.set(count)
            OLDEST_DUE_AGE.set(0.0 if oldest is None else (now - oldest).total_seconds())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def start_in_background(store: QueueUpkeep, settings: Settings) -> Stopper:
    """Start a worker task on the running loop; the returned coroutine stops it cleanly."""
    stop = asyncio.Event()
    transport = AioHttpTransport(settings)
    worker = Worker(store, transport, options_for(settings))
    task = asyncio.create_task(worker.run(stop), name="postback-worker")
    watcher = asyncio.create_task(watch_backlog(store, stop), name="postback-backlog")
    pruner = asyncio.create_task(
        retention.run_periodically(store, settings, stop), name="postback-retention"
    )

    async def stopper() -> None:
        stop.set()
        await task
        await watcher
        await pruner
        await transport.close()

    return stopper
