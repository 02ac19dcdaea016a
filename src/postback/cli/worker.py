"""`postback worker`: the delivery workers as their own process, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from postback import logs
from postback.config import Settings
from postback.delivery import metrics, retention
from postback.delivery.runner import options_for, watch_backlog
from postback.delivery.transport import transport_for
from postback.delivery.worker import Worker, collect_less
from postback.errors import ConfigError, PostbackError
from postback.storage import Store, open_store

log = logging.getLogger("postback.worker")


async def run_until_signalled(settings: Settings) -> None:
    """`postback worker`: deliver until SIGTERM or SIGINT, then finish in-flight sends."""
    store = open_store(settings.database_url, synchronous_commit=settings.worker_synchronous_commit)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not await migrate_when_reachable(store, stop):
        await store.close()
        return
    collect_less()
    transport = transport_for(settings)
    worker = Worker(store, transport, options_for(settings))
    watcher = asyncio.create_task(watch_backlog(store, stop), name="postback-backlog")
    pruner = asyncio.create_task(
        retention.run_periodically(store, settings, stop, worker.busy), name="postback-retention"
    )
    try:
        await worker.run(stop)
    finally:
        stop.set()
        await watcher
        await pruner
        await transport.close()
        await store.close()


async def migrate_when_reachable(store: Store, stop: asyncio.Event) -> bool:
    """Migrate, waiting for a database that is (re)starting; False if stopped first.

    A worker started while PostgreSQL restarts would otherwise exit at once."""
    wait = 0.5
    while True:
        try:
            await store.migrate()
            return True
        except PostbackError as exc:
            log.warning("database not ready at start, trying again in %.1f s: %s", wait, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set():
            return False
        wait = min(wait * 2, 5.0)


def run(
    settings: Settings, metrics_port: int | None = None, metrics_host: str = "127.0.0.1"
) -> None:
    """Blocking entry point; uses uvloop where it is installed. With ``metrics_port``,
    this worker's metrics are served at ``http://metrics_host:metrics_port/metrics``."""
    logs.setup(settings.log_format)
    if metrics_port is not None:
        try:
            metrics.serve(metrics_port, metrics_host)
        except OSError as exc:
            raise ConfigError(
                f"--metrics-port {metrics_port}: cannot listen on {metrics_host}: {exc.strerror}"
            ) from None
        log.info("metrics at http://%s:%d/metrics", metrics_host, metrics_port)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every POSIX system
        asyncio.run(run_until_signalled(settings))
        return
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run_until_signalled(settings))
