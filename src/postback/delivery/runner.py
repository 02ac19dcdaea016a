"""Running workers: as their own process (`postback worker`) or inside `postback serve`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable

from postback.config import Settings
from postback.delivery.transport import AioHttpTransport
from postback.delivery.worker import Worker, WorkerOptions, lease_for
from postback.storage import Store, open_store

log = logging.getLogger("postback.worker")
Stopper = Callable[[], Awaitable[None]]


def options_for(settings: Settings) -> WorkerOptions:
    return WorkerOptions(
        lease_seconds=settings.lease_seconds or lease_for(settings.total_timeout),
        per_destination=settings.per_host_concurrency,  # as many as the connections per host
    )


def start_in_background(store: Store, settings: Settings) -> Stopper:
    """Start a worker task on the running loop; the returned coroutine stops it cleanly."""
    stop = asyncio.Event()
    transport = AioHttpTransport(settings)
    worker = Worker(store, transport, options_for(settings))
    task = asyncio.create_task(worker.run(stop), name="postback-worker")

    async def stopper() -> None:
        stop.set()
        await task
        await transport.close()

    return stopper


async def run_until_signalled(settings: Settings) -> None:
    """`postback worker`: deliver until SIGTERM or SIGINT, then finish in-flight sends."""
    store = open_store(settings.database_url)
    await store.migrate()
    # What start-up made lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk it all and stall every delivery in flight.
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    transport = AioHttpTransport(settings)
    try:
        await Worker(store, transport, options_for(settings)).run(stop)
    finally:
        await transport.close()
        await store.close()


def run(settings: Settings) -> None:
    """Blocking entry point; uses uvloop where it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every POSIX system
        asyncio.run(run_until_signalled(settings))
        return
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run_until_signalled(settings))
