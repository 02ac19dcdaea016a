"""Shared pieces of the delivery benchmarks: modes, results, the receiver process,
databases, bulk seeding, worker processes and what /proc says about them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from sqlalchemy import bindparam, text

from postback.delivery.breaker import destination
from postback.domain.records import AccountKind, PartnerType, PostbackConfig, PostbackKind
from postback.storage import open_store
from postback.storage.sql import UTCDateTime
from postback.storage.sql_store import SQLStore

MODES = ("smoke", "quick", "full")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOOPBACK_NETS = "127.0.0.0/8"
CLK_TCK = os.sysconf("SC_CLK_TCK")
console = Console(stderr=True, highlight=False)


# -- modes and results -------------------------------------------------------------------
def check_mode(mode: str) -> str:
    """``mode`` itself, or ValueError naming the three modes."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    return mode


def results_dir() -> Path:
    """Where results go: ``$POSTBACK_BENCH_RESULTS`` or ``benchmarks/results``."""
    return Path(os.environ.get("POSTBACK_BENCH_RESULTS") or RESULTS)


def write_result(name: str, figures: dict[str, Any], directory: Path | None = None) -> Path:
    """Save one benchmark's figures as ``<directory>/<name>.json``."""
    path = (directory or results_dir()) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def read_result(name: str, directory: Path | None = None) -> dict[str, Any] | None:
    path = (directory or results_dir()) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def say(message: str) -> None:
    """A progress line (stderr, through rich)."""
    console.print(f"  [dim]{time.strftime('%H:%M:%S')}[/] {message}")


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- /proc -------------------------------------------------------------------------------
def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User + system CPU seconds a live process has used (``/proc/<pid>/stat``); with
    ``reaped``, also what its ended children used."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = [int(v) for v in raw.rsplit(")", 1)[1].split()[11:15]]
    return sum(fields if reaped else fields[:2]) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident set size of a live process (``VmRSS`` in ``/proc/<pid>/status``)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it (``/proc/<pid>/task/<tid>/children``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postgres_cpu_seconds() -> float:
    """CPU seconds of every ``postgres`` process on the machine, including backends that
    have ended since (the server process counts its reaped children)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name), reaped=True)
    return total


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each live PostgreSQL backend connected to ``database`` (by pid):
    its process title names the database, so other databases' work is left out."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].split()
                if title[:1] == [b"postgres:"] and database.encode() in title[1:4]:
                    found[int(entry.name)] = cpu_seconds(int(entry.name))
    return found


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``, all cores)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))  # not idle/iowait
    return busy / CLK_TCK


# -- the receiver --------------------------------------------------------------------------
class ReceiverProcess:
    """``python -m benchmarks.receiver`` in a process of its own, and its control paths."""

    def __init__(self, hosts: Sequence[str] = ("127.0.0.1",)) -> None:
        self.hosts = tuple(hosts)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.receiver", "--hosts", ",".join(self.hosts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if not line or line[0] != "READY":
            self.stop()
            raise RuntimeError("the receiver did not start")
        self.port = int(line[1])

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.hosts[0]}:{self.port}{path}"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=30) as reply:
            return json.loads(reply.read())

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per tag: count, distinct Postback-Ids, first and last arrival (unix time)."""
        return self._get("/__summary")  # type: ignore[no-any-return]

    def count(self, tag: str) -> int:
        return int(self.summary().get(tag, {}).get("count", 0))

    def arrivals(self, tag: str) -> list[float]:
        return self._get(f"/__arrivals?tag={tag}")  # type: ignore[no-any-return]

    def latencies(self, tag: str) -> list[float]:
        return self._get(f"/__latency?tag={tag}")  # type: ignore[no-any-return]

    def arrivals_by_id(self, tag: str) -> dict[str, float]:
        return self._get(f"/__ids?tag={tag}")  # type: ignore[no-any-return]

    def reset(self) -> None:
        self._get("/__reset")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def receiver(hosts: Sequence[str] = ("127.0.0.1",)) -> Iterator[ReceiverProcess]:
    rec = ReceiverProcess(hosts)
    try:
        yield rec
    finally:
        rec.stop()


# -- databases -----------------------------------------------------------------------------
def pg_admin_dsn() -> str:
    """The server's admin DSN: ``$POSTBACK_BENCH_PG``, ``$POSTBACK_TEST_PG`` or the local one."""
    return os.environ.get("POSTBACK_BENCH_PG") or os.environ.get("POSTBACK_TEST_PG") or DEFAULT_PG


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(pg_admin_dsn(), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def database(kind: str) -> AsyncIterator[str]:
    """A fresh database URL (``sqlite`` file or ``postgresql`` database), removed after."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="postback_bench_") as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"postback_bench_{os.getpid()}_{secrets.token_hex(3)}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg_admin_dsn().rsplit('/', 1)[0]}/{name}"
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class World:
    """A migrated store with one cashback partner owning the benchmark's postbacks."""

    url: str
    store: SQLStore
    partner_id: str
    postbacks: dict[str, str] = field(default_factory=dict)  # name -> id
    seeded: int = 0

    @property
    def kind(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    async def postback(self, name: str, url: str, **config: Any) -> str:
        """Create an action-lifecycle postback for the partner; return its id."""
        cfg = PostbackConfig(kind=PostbackKind.ACTION_LIFECYCLE, url=url, name=name, **config)
        created = await self.store.create_postback(self.partner_id, cfg)
        self.postbacks[name] = created.id
        return created.id

    async def sql(self, statement: str, **params: Any) -> Any:
        """Run one statement in its own transaction; return the first column of row one."""
        async with self.store.engine.begin() as conn:
            result = await conn.execute(_bound(statement, params), params)
            return result.scalar() if result.returns_rows else None


def _is_time(value: object) -> bool:
    return isinstance(value, datetime)


def _bound(statement: str, params: dict[str, Any]) -> Any:
    stmt = text(statement)
    times = [bindparam(k, type_=UTCDateTime()) for k, v in params.items() if _is_time(v)]
    return stmt.bindparams(*times) if times else stmt


@contextlib.asynccontextmanager
async def world(kind: str) -> AsyncIterator[World]:
    """A fresh database with the schema and a partner account, closed and dropped after."""
    async with database(kind) as url:
        store = open_store(url)
        assert isinstance(store, SQLStore)
        await store.migrate()
        partner = await store.create_account(
            "bench partner", AccountKind.PARTNER, PartnerType.CASHBACK, "bench-key-hash"
        )
        await checkpoint(kind)
        try:
            yield World(url, store, partner.id)
        finally:
            await store.close()


# -- bulk seeding ----------------------------------------------------------------------------
_SERIES = {
    "postgresql": "SELECT i FROM generate_series(1, :n) AS s(i)",
    "sqlite": "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    "SELECT i FROM s",
}


@dataclass(frozen=True, slots=True)
class Batch:
    """``n`` deliveries of one postback, rows ``1..n`` sharing what is given here.

    ``url`` gets the row number appended; on PostgreSQL the due time may step by
    ``due_step`` seconds per row (to interleave batches in claim order) or be spread
    at random over ``due_spread`` seconds (for backlogs in the future)."""

    postback: str
    n: int
    url: str
    due_at: datetime
    status: str = "scheduled"
    attempts: int = 0
    due_step: float = 0.0
    due_spread: float = 0.0
    method: str = "GET"
    body: str | None = None  # sent as JSON (a Content-Type header is stored with it)


async def seed(w: World, tag: str, batch: Batch) -> None:
    """Insert ``batch`` as events and deliveries with two INSERT ... SELECT statements."""
    series = _SERIES[w.kind]
    c = _casts(w.kind)
    now = utcnow()
    base = await w.sql("SELECT COALESCE(MAX(seq), 0) FROM deliveries") or 0
    await w.sql(
        "INSERT INTO events (id, type, occurred_at, data, received_at, deliveries_created) "
        f"SELECT 'ev-{tag}-' || i, 'action.tracked', {c['now']}, '{{}}', {c['now']}, 1 "
        f"FROM ({series}) t",
        n=batch.n,
        now=now,
    )
    seq, seq_value = ("", "") if w.kind == "postgresql" else ("seq, ", ":base + i, ")
    await w.sql(
        f"INSERT INTO deliveries ({seq}id, postback_id, owner_id, event_id, event_occurred_at, "
        "method, url, destination, headers, body, status, due_at, order_key, action_id, "
        "attempt_count, round_attempts, created_at, updated_at) "
        f"SELECT {seq_value}'dlv_{tag}_' || i, {c['pid']}, {c['owner']}, 'ev-{tag}-' || i, "
        f"{c['now']}, {c['method']}, {c['url']} || i, {c['destination']}, {c['headers']}, "
        f"{c['body']}, {c['status']}, "
        f"{_due_expr(w.kind, batch)}, 'A-{tag}-' || i, 'A-{tag}-' || i, {c['attempts']}, "
        f"{c['attempts']}, {c['now']}, {c['now']} FROM ({series}) t ORDER BY i",
        n=batch.n,
        now=now,
        base=base,
        pid=w.postbacks[batch.postback],
        owner=w.partner_id,
        url=batch.url,
        destination=destination(batch.url),
        method=batch.method,
        headers=JSON_HEADERS if batch.body is not None else "[]",
        body=batch.body,
        status=batch.status,
        due_at=batch.due_at,
        attempts=batch.attempts,
        **_due_params(batch),
    )
    w.seeded += batch.n
    await analyze(w)


JSON_HEADERS = json.dumps([["Content-Type", "application/json"]])


def _casts(kind: str) -> dict[str, str]:
    """Bound parameters in a SELECT list, typed for PostgreSQL (SQLite needs no type)."""
    types = {
        "now": "TIMESTAMPTZ",
        "due_at": "TIMESTAMPTZ",
        "pid": "TEXT",
        "owner": "TEXT",
        "url": "TEXT",
        "destination": "TEXT",
        "method": "TEXT",
        "headers": "TEXT",
        "body": "TEXT",
        "status": "TEXT",
        "attempts": "INTEGER",
    }
    if kind == "sqlite":
        return {k: f":{k}" for k in types}
    return {k: f"CAST(:{k} AS {t})" for k, t in types.items()}


def _due_expr(kind: str, batch: Batch) -> str:
    due = _casts(kind)["due_at"]
    if not (batch.due_step or batch.due_spread):
        return due
    if kind != "postgresql":
        raise ValueError("stepped or spread due times are seeded on PostgreSQL only")
    if batch.due_step:
        return f"{due} + make_interval(secs => i * CAST(:step AS FLOAT8))"
    return f"{due} + make_interval(secs => random() * CAST(:spread AS FLOAT8))"


def _due_params(batch: Batch) -> dict[str, float]:
    if batch.due_step:
        return {"step": batch.due_step}
    return {"spread": batch.due_spread} if batch.due_spread else {}


async def checkpoint(kind: str) -> None:
    """On PostgreSQL, write out what earlier steps left dirty (seeding, other benchmarks),
    so that a checkpoint does not land in the middle of the next measurement."""
    if kind == "postgresql":
        await pg_admin("CHECKPOINT")


async def analyze(w: World) -> None:
    """ANALYZE after seeding on PostgreSQL, as autovacuum would (it is off on some servers,
    and without statistics the planner may read every due row to claim a few)."""
    if w.kind == "postgresql":
        await w.sql("ANALYZE")


AUTOVACUUM_COST_DELAY = "2ms"  # PostgreSQL's default autovacuum_vacuum_cost_delay


async def vacuum(w: World, throttled: bool = False) -> None:
    """``VACUUM (ANALYZE)`` the busy tables (PostgreSQL); ``throttled``, with the cost
    delay autovacuum uses by default (a manual VACUUM runs flat out)."""
    if w.kind != "postgresql":
        return
    async with w.store.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if throttled:
            await auto.execute(text(f"SET vacuum_cost_delay = '{AUTOVACUUM_COST_DELAY}'"))
        await auto.execute(text("VACUUM (ANALYZE) deliveries, attempts, events"))


async def vacuum_every(w: World, seconds: float) -> None:
    """A throttled :func:`vacuum` every ``seconds`` until cancelled: what autovacuum does
    on a server where it is on (it is off on the benchmark server)."""
    while True:
        await asyncio.sleep(seconds)
        await vacuum(w, throttled=True)


async def count_status(w: World, postbacks: Sequence[str], status: str = "delivered") -> int:
    """Deliveries of these postbacks (by name) in ``status``."""
    ids = ", ".join(f"'{w.postbacks[p]}'" for p in postbacks)
    return int(
        await w.sql(
            f"SELECT COUNT(*) FROM deliveries WHERE postback_id IN ({ids}) AND status = :s",
            s=status,
        )
        or 0
    )


# -- worker processes ------------------------------------------------------------------------
WORKER = ("worker", "--processes", "1")


class Workers:
    """``python -m postback ...`` processes on one database: ``count`` workers, or one
    process for each of ``commands`` (e.g. ``serve`` and ``worker``); ``module``: run
    ``python -m module`` instead (a traced worker)."""

    def __init__(
        self,
        url: str,
        count: int,
        module: str = "",
        commands: Sequence[Sequence[str]] = (),
        **env: str,
    ) -> None:
        environ = {
            **os.environ,
            "POSTBACK_DATABASE_URL": url,
            "POSTBACK_ALLOWED_NETWORKS": LOOPBACK_NETS,
            **env,
        }
        self.procs = [
            subprocess.Popen([sys.executable, *args], env=environ, cwd=ROOT)
            for args in (
                [["-m", module]] * count
                if module
                else [["-m", "postback", *c] for c in (commands or [WORKER] * count)]
            )
        ]

    @property
    def pids(self) -> list[int]:
        """Every process: those started here and their children (``--processes``)."""
        return [pid for p in self.procs for pid in tree(p.pid)]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss(self) -> list[int]:
        return [rss_bytes(pid) for pid in self.pids]

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@contextlib.contextmanager
def workers(
    url: str, count: int, module: str = "", commands: Sequence[Sequence[str]] = (), **env: str
) -> Iterator[Workers]:
    procs = Workers(url, count, module, commands, **env)
    try:
        yield procs
    finally:
        procs.stop()


async def listening(w: World) -> int:
    """How many connections LISTEN for new work on this PostgreSQL database."""
    name = w.url.rsplit("/", 1)[1]
    return int(
        await w.sql(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = :db "
            "AND query ILIKE 'LISTEN%postback_work%'",
            db=name,
        )
        or 0
    )


async def until(check: Callable[[], Any], within: float, every: float = 0.05) -> bool:
    """Poll ``check`` (sync or async) until it is true; False after ``within`` seconds."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return True
        await asyncio.sleep(every)
    return False


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - utcnow()).total_seconds()))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


def start_due(mode: str) -> datetime:
    """When seeded work falls due: long enough from now for worker processes to start."""
    return later(2.0 if mode == "smoke" else 3.0)


# -- draining a seeded batch -----------------------------------------------------------------
@dataclass
class Drain:
    """How to drain: which postbacks (by name) count, how many, on which receiver tag."""

    postbacks: Sequence[str]
    n: int
    tag: str
    workers: int = 1  # processes that deliver (and LISTEN, on PostgreSQL)
    env: dict[str, str] = field(default_factory=dict)
    commands: Sequence[Sequence[str]] = ()  # default: ``workers`` x ``postback worker``


class Usage:
    """CPU seconds of the workers, PostgreSQL (every process on the machine, and the
    backends of ``database`` alone), the receiver and the machine since start."""

    def __init__(self, procs: Workers, rec: ReceiverProcess, database: str = "") -> None:
        self.procs, self.rec, self.database = procs, rec, database
        self.start = self._now()
        self.backends = backend_cpu(database) if database else {}

    def _now(self) -> dict[str, float]:
        return {
            "workers": self.procs.cpu(),
            "postgres": postgres_cpu_seconds(),
            "receiver": self.rec.cpu(),
            "machine": machine_cpu_seconds(),
        }

    def since(self) -> dict[str, float]:
        now = self._now()
        used = {k: now[k] - self.start[k] for k in now}
        if self.database:  # backends that ended in between are not counted
            ended = backend_cpu(self.database)
            used["postgres_db"] = sum(v - self.backends.get(p, 0.0) for p, v in ended.items())
        return used


async def drain(w: World, rec: ReceiverProcess, spec: Drain, due_at: datetime) -> dict[str, Any]:
    """Start workers, let the seeded deliveries fall due at ``due_at``, time until all of
    them are delivered and logged. Returns the figures (and the workers' RSS samples)."""
    with workers(w.url, spec.workers, commands=spec.commands, **spec.env) as procs:
        ready = await _ready(w, procs, spec.workers, due_at)
        await sleep_until(due_at)
        database = w.url.rsplit("/", 1)[1] if w.kind == "postgresql" else ""
        usage, began = Usage(procs, rec, database), time.time()
        samples = await _sample_until_sent(rec, procs, spec, began)
        await until(lambda: _all_delivered(w, spec), 60 + spec.n / 100, every=0.02)
        done = time.time()
        cpu = usage.since()
        delivered = await count_status(w, spec.postbacks)
    figures = _drain_figures(rec, spec, began, done, cpu, delivered, samples, ready)
    figures["retried"] = await count_retried(w, spec.postbacks)
    return figures


async def count_retried(w: World, postbacks: Sequence[str]) -> int:
    """Deliveries of these postbacks that took more than one attempt: on the loopback
    receiver, deliveries shed because a process was not scheduled for a quarter second
    (the worker's slow-destination rule), whose retry then holds up the drain."""
    ids = ", ".join(f"'{w.postbacks[p]}'" for p in postbacks)
    return int(
        await w.sql(
            f"SELECT COUNT(*) FROM deliveries WHERE postback_id IN ({ids}) AND attempt_count > 1"
        )
        or 0
    )


async def _ready(w: World, procs: Workers, count: int, due_at: datetime) -> bool:
    """Whether every worker is up (LISTENing on PostgreSQL) before the work falls due."""
    margin = (due_at - utcnow()).total_seconds()
    if w.kind == "postgresql":
        return await until(lambda: _listening_all(w, count), margin, every=0.05)
    return await until(lambda: _have_opened(procs, w.url), margin, every=0.05)


async def _listening_all(w: World, count: int) -> bool:
    return await listening(w) >= count


def _have_opened(procs: Workers, url: str) -> bool:
    path = url.removeprefix("sqlite:///")
    for pid in procs.pids:
        fds = Path(f"/proc/{pid}/fd")
        with contextlib.suppress(OSError):
            if not any(os.readlink(fd) == path for fd in fds.iterdir()):
                return False
    return True


async def _all_delivered(w: World, spec: Drain) -> bool:
    return await count_status(w, spec.postbacks) >= spec.n


async def _sample_until_sent(
    rec: ReceiverProcess, procs: Workers, spec: Drain, began: float
) -> list[tuple[float, float]]:
    """Wait until the receiver has seen every request; sample the workers' RSS (MiB)."""
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + 60 + spec.n / 100
    while time.monotonic() < deadline and procs.alive():
        samples.append((time.time() - began, sum(procs.rss()) / 2**20))
        if rec.count(spec.tag) >= spec.n:
            break
        await asyncio.sleep(0.1)
    return samples


def _drain_figures(
    rec: ReceiverProcess,
    spec: Drain,
    began: float,
    done: float,
    cpu: dict[str, float],
    delivered: int,
    samples: list[tuple[float, float]],
    ready: bool,
) -> dict[str, Any]:
    arrivals = sorted(rec.arrivals(spec.tag))
    seen = rec.summary().get(spec.tag, {})
    seconds = done - began
    return {
        "deliveries": spec.n,
        "delivered": delivered,
        "workers": spec.workers,
        "seconds": round(seconds, 3),
        "began_at": began,
        "deliveries_per_s": round(delivered / seconds, 1),
        "steady_per_s": round(steady_rate(arrivals), 1),
        "first_request_after_s": round(arrivals[0] - began, 3) if arrivals else None,
        "requests": len(arrivals),
        "sent_twice": int(seen.get("count", 0)) - int(seen.get("distinct", 0)),
        "cpu_ms_per_delivery": {k: round(v * 1000 / max(1, delivered), 3) for k, v in cpu.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "ready_before_due": ready,
        "rss_mib": [[round(t, 2), round(m, 1)] for t, m in samples],
    }


def steady_rate(arrivals: Sequence[float]) -> float:
    """Requests per second between the 10th and 90th percentile arrivals."""
    if len(arrivals) < 10:
        return 0.0
    lo, hi = arrivals[len(arrivals) // 10], arrivals[len(arrivals) * 9 // 10]
    return (len(arrivals) * 8 // 10) / max(hi - lo, 1e-9)
