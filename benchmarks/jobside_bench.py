"""The job side alone: claim and complete seeded deliveries through the store, no HTTP.

What one delivery costs the queue, away from the sender: a loop claims up to 200 due
deliveries, makes a delivered result for each (as a worker would, with a 200 reply) and
completes them, until the seeded deliveries are done. It reports the CPU per delivery of
this process (the worker's share) and of PostgreSQL, and how many statements and
protocol messages one claim and one completion of 200 send:

* PostgreSQL: the server logs every parse, bind and execute with its duration
  (``log_min_duration_statement = 0`` on the benchmark's database only) and the lines
  of this run's backends are counted from the server log (``$POSTBACK_PG_LOG``, Debian's
  path by default); without the log only the CPU figures are given.
* SQLite: every statement the library runs, from SQLite's trace callback.

    python -m benchmarks.jobside_bench [--n 20000] [--kind postgresql]

It imports ``postback`` from the path, so ``PYTHONPATH=/other/src`` measures other code
with the same loop (``benchmarks.pairs --only jobside`` does that in pairs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import common
from postback.delivery.queue import AttemptResult, Claim
from postback.domain.records import Attempt, DeliveryStatus, Reply

PG_LOG = Path(os.environ.get("POSTBACK_PG_LOG", "/var/log/postgresql/postgresql-15-main.log"))
BATCH = 200
REPLY = Reply(200, (("Content-Type", "text/plain"), ("Content-Length", "2")), b"ok")


def delivered(claim: Claim, worker: str) -> AttemptResult:
    """The result a worker reports for a 200 reply to the claim's request."""
    attempt = Attempt(
        delivery_id=claim.delivery_id,
        number=claim.attempt_number,
        started_at=common.utcnow(),
        duration_ms=1.5,
        request=claim.request,
        reply=REPLY,
        outcome="delivered",
        error=None,
        postback_version=claim.current_version,
    )
    return AttemptResult(attempt, DeliveryStatus.DELIVERED, None, worker, claim.postback_id)


async def _cycle(store: Any, worker: str, batch: int = BATCH) -> int:
    claims = await store.claim(worker, common.utcnow(), batch, 60.0)
    if claims:
        await store.complete([delivered(c, worker) for c in claims])
    return len(claims)


async def drain(w: common.World, n: int, batch: int = BATCH) -> dict[str, float]:
    """Claim and complete until ``n`` are done; CPU per delivery of this process and of
    the database's backends (PostgreSQL: those of this database, as they stand at the
    end; the first cycle opens them, so it is left out of the figures)."""
    worker = "bench-worker"
    done = await _cycle(w.store, worker, batch)
    backends = await _pg_backends(w) if w.kind == "postgresql" else []
    cpu0, began = time.process_time(), time.perf_counter()
    pg0 = sum(common.cpu_seconds(p) for p in backends)
    start = done
    while done < n:
        got = await _cycle(w.store, worker, batch)
        if not got:
            break
        done += got
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu0
    pg = sum(common.cpu_seconds(p) for p in backends) - pg0
    done -= start
    return {
        "deliveries": done,
        "seconds": round(wall, 3),
        "deliveries_per_s": round(done / wall, 1),
        "client_cpu_us": round(cpu / max(1, done) * 1e6, 1),
        "postgres_cpu_us": round(pg / max(1, done) * 1e6, 1),
    }


async def _seed(w: common.World, n: int, tag: str) -> None:
    await w.postback("bench", "http://127.0.0.1:9/ok?a={ActionId}")
    await common.seed(
        w, tag, common.Batch("bench", n, "http://127.0.0.1:9/ok?n=", common.later(-1))
    )


async def _pg_backends(w: common.World) -> list[int]:
    """The backends connected to the benchmark's database, but not the one asking."""
    name = w.url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(common.pg_admin_dsn(), timeout=10)
    try:
        found = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await conn.close()
    return [r["pid"] for r in found]


def _log_size() -> int:
    return PG_LOG.stat().st_size


def _log_lines(start: int, end: int, pids: set[int]) -> list[str]:
    """The ``duration:`` lines the given backends logged between two offsets."""
    with PG_LOG.open("rb") as f:
        f.seek(start)
        raw = f.read(end - start).decode(errors="replace")
    out = []
    for line in raw.splitlines():
        pid = line.split("[", 1)[-1].split("]", 1)[0]
        if pid.isdigit() and int(pid) in pids and "duration:" in line:
            out.append(line.split("duration:", 1)[1])
    return out


def _kinds(lines: list[str]) -> dict[str, int]:
    """Parse, bind and execute messages, and simple statements (BEGIN, COMMIT)."""
    count = {"parse": 0, "bind": 0, "execute": 0, "simple": 0}
    for line in lines:
        words = line.split()
        kind = words[2] if len(words) > 2 else ""
        if kind in ("parse", "bind", "execute"):
            count[kind] += 1
        elif kind == "statement:":
            count["simple"] += 1
    return count


async def count_pg(w: common.World, store: Any) -> dict[str, Any]:
    """Messages one claim and one completion of ``BATCH`` send, from the server log."""
    if not PG_LOG.exists():  # noqa: ASYNC240 (before any timing)
        return {"note": f"no server log at {PG_LOG}"}
    worker = "count-worker"
    await _cycle(store, worker)  # warm: connections open, statements prepared
    pids = set(await _pg_backends(w))
    marks = [_log_size()]
    claims = await store.claim(worker, common.utcnow(), BATCH, 60.0)
    await asyncio.sleep(0.3)  # the server writes its log asynchronously
    marks.append(_log_size())
    await store.complete([delivered(c, worker) for c in claims])
    await asyncio.sleep(0.3)
    marks.append(_log_size())
    pids |= set(await _pg_backends(w))
    out: dict[str, Any] = {}
    for i, step in enumerate(("claim", "complete")):
        lines = _log_lines(marks[i], marks[i + 1], pids)
        out[step] = {"rows": len(claims), **_kinds(lines), "statements": [_short(x) for x in lines]}
    return out


def _short(line: str) -> str:
    text = line.split(":", 1)[1].strip() if ":" in line else line
    return " ".join(text.split())[:160]


def count_sqlite(store: Any) -> Any:
    """Install a trace callback on every SQLite connection; returns the list it fills."""
    seen: list[str] = []
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        raw = dbapi_connection.driver_connection._conn  # aiosqlite's sqlite3 connection
        raw.set_trace_callback(lambda sql: seen.append(" ".join(sql.split())[:160]))

    event.listen(store.engine.sync_engine, "connect", on_connect)
    return seen


async def count_statements_sqlite(kind: str, n: int) -> dict[str, Any]:
    async with common.world(kind) as w:
        await _seed(w, max(n, 2 * BATCH), "c")
        await w.store.close()
        from postback.storage import open_store

        store = open_store(w.url)
        seen = count_sqlite(store)
        worker = "count-worker"
        await _cycle(store, worker)
        out = {}
        claims: list[Claim] = []
        for step in ("claim", "complete"):
            seen.clear()
            if step == "claim":
                claims = await store.claim(worker, common.utcnow(), BATCH, 60.0)
            else:
                await store.complete([delivered(c, worker) for c in claims])
            out[step] = {"rows": len(claims), "statements": len(seen), "each": list(seen)}
        await store.close()
        w.store = open_store(w.url)  # type: ignore[assignment]
    return out


async def run(
    kind: str, n: int, count: bool = True, durable: bool = True, batch: int = BATCH
) -> dict[str, Any]:
    """One drain of ``n`` deliveries on a fresh database, and the statement counts;
    ``durable=False`` drains with ``synchronous_commit=False`` for the completions."""
    figures: dict[str, Any] = {"database": kind, "batch": batch, "durable": durable}
    async with common.world(kind) as w:
        await _seed(w, n, "d")
        if not durable:
            from postback.storage import open_store

            await w.store.close()
            w.store = open_store(w.url, synchronous_commit=False)  # type: ignore[assignment]
        figures["drain"] = await drain(w, n, batch)
    if count and kind == "postgresql":
        figures["messages"] = await _count_pg_fresh(n)
    elif count:
        figures["messages"] = await count_statements_sqlite(kind, 4 * BATCH)
    return figures


async def _count_pg_fresh(n: int) -> dict[str, Any]:
    from postback.storage import open_store

    async with common.world("postgresql") as w:
        await _seed(w, 4 * BATCH, "c")
        name = w.url.rsplit("/", 1)[1]
        await common.pg_admin(f'ALTER DATABASE "{name}" SET log_min_duration_statement = 0')
        store = open_store(w.url)
        try:
            return await count_pg(w, store)
        finally:
            await store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.jobside_bench", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--kind", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--batch", type=int, default=BATCH, help="deliveries per claim")
    parser.add_argument("--no-count", action="store_true", help="only the drain's CPU figures")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument(
        "--async-commit", action="store_true", help="completions with synchronous_commit off"
    )
    args = parser.parse_args(argv)
    import uvloop

    found = uvloop.run(run(args.kind, args.n, not args.no_count, not args.async_commit, args.batch))
    print(json.dumps(found, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
