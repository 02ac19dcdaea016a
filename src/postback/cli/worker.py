"""`postback worker`: the delivery workers as their own process, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

from postback import logs
from postback.cli.processes import SUPERVISOR_ENV, Children
from postback.config import Settings
from postback.delivery import metrics, retention
from postback.delivery.runner import options_for, watch_backlog
from postback.delivery.transport import transport_for
from postback.delivery.worker import Worker, collect_less
from postback.errors import ConfigError, PostbackError
from postback.storage import Store, open_store

log = logging.getLogger("postback.worker")
T = TypeVar("T")
PARENT_CHECK_EVERY = 1.0  # seconds between a child's looks at its parent


async def run_until_signalled(settings: Settings) -> None:
    """`postback worker`: deliver until SIGTERM or SIGINT, then finish in-flight sends."""
    store = open_store(settings.database_url, synchronous_commit=settings.worker_synchronous_commit)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    orphaned = asyncio.create_task(watch_parent(stop), name="postback-parent")
    if not await migrate_when_reachable(store, stop):
        orphaned.cancel()
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
        orphaned.cancel()
        await transport.close()
        await store.close()


async def watch_parent(stop: asyncio.Event) -> None:
    """In a child of `--processes N`: stop when the parent is gone (killed without
    the chance to stop its children), instead of running on unsupervised."""
    parent = os.environ.get(SUPERVISOR_ENV)
    if not parent:
        return
    while not stop.is_set():
        if os.getppid() != int(parent):
            log.warning("the parent process (pid %s) is gone; stopping", parent)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_CHECK_EVERY)


async def supervise(settings: Settings, count: int) -> int:
    """`postback worker --processes N` (N > 1): migrate once, then keep ``count`` child
    workers running until SIGTERM or SIGINT; 0, or 1 if the children kept failing."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = open_store(settings.database_url)
    try:
        # Once here, so the children do not all run the migrations at the same moment.
        if not await migrate_when_reachable(store, stop):
            return 0
    finally:
        await store.close()
    log.info("starting %d worker processes", count)
    return await Children(count).run(stop)


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
    settings: Settings,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    processes: int = 1,
) -> int:
    """Blocking entry point; uses uvloop where it is installed; the exit code. With
    ``metrics_port``, the metrics (of every process, with ``processes`` > 1) are served
    at ``http://metrics_host:metrics_port/metrics``."""
    logs.setup(settings.log_format)
    if metrics_port is not None:
        try:
            metrics.serve(metrics_port, metrics_host)
        except OSError as exc:
            raise ConfigError(
                f"--metrics-port {metrics_port}: cannot listen on {metrics_host}: {exc.strerror}"
            ) from None
        log.info("metrics at http://%s:%d/metrics", metrics_host, metrics_port)
    if processes > 1:
        return _run_loop(supervise(settings, processes)) or 0
    _run_loop(run_until_signalled(settings))
    return 0


def _run_loop(main: Coroutine[Any, Any, T]) -> T | None:
    """Run ``main`` on uvloop (asyncio's loop where uvloop is missing); None on ^C."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every POSIX system
        return asyncio.run(main)
    with contextlib.suppress(KeyboardInterrupt):
        return uvloop.run(main)
    return None
