"""`--processes N`: worker processes started, watched and stopped by a parent process.

Each child is `postback worker --processes 1` (its own worker id, its own connections),
all on one database. A child that dies is started again after a pause that doubles with
each failure; when more than ``max_failures`` die within ``window`` seconds the parent
stops the others and reports the failure. A child that exits 0 was told to stop (by a
SIGTERM of its own, say from a service manager that signals every process) and is not
started again. On stop the parent sends SIGTERM to every child and waits while they
finish their sends (SIGKILL after ``stop_grace`` seconds).

With more than one process, Prometheus metrics go through ``prometheus_client``'s
multiprocess mode: every process writes its figures to files in one folder
(``PROMETHEUS_MULTIPROC_DIR``) and a scrape of any of them adds them all up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from postback.errors import ConfigError

log = logging.getLogger("postback.processes")
CHILD = ("-m", "postback", "worker", "--processes", "1")
SUPERVISOR_ENV = "POSTBACK_SUPERVISOR_PID"  # set in each child: its parent's pid
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def count_for(database_url: str, asked: int | None, available: int) -> int:
    """How many processes deliver: ``asked``, or one per core; on SQLite only one.

    SQLite lets one process write at a time: a second would queue behind the first's
    locks (and fail with "database is locked" when it waits too long), not add speed."""
    sqlite = database_url.startswith("sqlite")
    if asked is None:
        return 1 if sqlite else max(1, available)
    if asked < 1:
        raise ConfigError(f"--processes {asked}: give 1 or more")
    if sqlite and asked > 1:
        raise ConfigError(
            f"--processes {asked}: SQLite takes one writer at a time, so one process "
            "delivers; use PostgreSQL (POSTBACK_DATABASE_URL=postgresql://...) for more"
        )
    return asked


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    window: float = 60.0  # seconds over which child failures are counted
    max_failures: int = 5  # more than this many within the window: give up
    first_delay: float = 0.5  # pause before starting a failed child again
    max_delay: float = 10.0  # the longest such pause
    stop_grace: float = 60.0  # after SIGTERM, how long a child may take to finish


def restart_delay(failures: Sequence[float], now: float, policy: RestartPolicy) -> float | None:
    """Seconds to wait before starting a failed child again, given the times (``now``'s
    clock) at which children failed, this one included; None: they keep failing."""
    recent = sum(1 for moment in failures if now - moment <= policy.window)
    if recent > policy.max_failures:
        return None
    return min(policy.max_delay, policy.first_delay * 2.0 ** max(0, recent - 1))


@contextlib.contextmanager
def shared_metrics(count: int) -> Iterator[None]:
    """With more than one process, a folder for multiprocess metrics (unless the
    environment names one), set in ``PROMETHEUS_MULTIPROC_DIR`` for this process and
    its children; removed after. Enter it before anything imports prometheus_client."""
    if count < 2 or os.environ.get(METRICS_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="postback-metrics-")
    os.environ[METRICS_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(METRICS_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


class Children:
    """``count`` worker processes kept running until a stop (see the module's doc)."""

    def __init__(
        self, count: int, policy: RestartPolicy | None = None, command: Sequence[str] = CHILD
    ) -> None:
        self.count = count
        self.policy = policy or RestartPolicy()
        self.command = tuple(command)
        self.gave_up = False
        self._failures: list[float] = []

    async def run(self, stop: asyncio.Event) -> int:
        """Until ``stop`` is set (or every child has exited 0): 0, or 1 if the children
        kept failing (``stop`` is then set)."""
        await asyncio.gather(*(self._slot(i, stop) for i in range(self.count)))
        return 1 if self.gave_up else 0

    async def _slot(self, index: int, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *self.command, env={**os.environ, SUPERVISOR_ENV: str(os.getpid())}
            )
            log.info("worker process %d started (pid %d)", index + 1, proc.pid)
            code = await self._wait(proc, stop)
            _forget_metrics(proc.pid)
            if stop.is_set():
                return
            if code == 0:
                log.info("worker process %d (pid %d) stopped; not restarted", index + 1, proc.pid)
                return
            self._failures.append(loop.time())
            delay = restart_delay(self._failures, loop.time(), self.policy)
            if delay is None:
                log.error(
                    "worker processes keep failing (%d in %.0f s); stopping them all",
                    len(self._failures),
                    self.policy.window,
                )
                self.gave_up = True
                stop.set()
                return
            log.warning(
                "worker process %d (pid %d) exited with %s; starting it again in %.1f s",
                index + 1,
                proc.pid,
                _exit_text(code),
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _wait(self, proc: asyncio.subprocess.Process, stop: asyncio.Event) -> int:
        """The child's exit code; on ``stop``, after a SIGTERM (SIGKILL if it lingers)."""
        exited = asyncio.ensure_future(proc.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not exited.done():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(exited), self.policy.stop_grace)
            except TimeoutError:
                log.error("worker process (pid %d) did not stop in time; killed", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await exited
        return exited.result()


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def _forget_metrics(pid: int) -> None:
    """Drop a dead child's live gauges (in flight, backlog) from the shared metrics."""
    if os.environ.get(METRICS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
