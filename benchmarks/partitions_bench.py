"""Retention on PostgreSQL: deleting old attempts row by row against dropping a partition.

Issue 13 asks to consider partitioning the attempt log by time and to measure both. One
database holds the same attempt log twice: ``attempts`` as the schema has it (indexed by
primary key, by delivery and number, and by ``started_at`` for retention) and
``attempts_by_day``, range-partitioned by ``started_at``, one partition per UTC day
(primary key ``(id, started_at)``, as PostgreSQL requires of a partitioned table, and the
delivery index; no ``started_at`` index, a day is found by its partition). ``--days``
days of ``--per-day`` attempts each, written in time order, four per delivery, all of a
delivery's in its day. Measured, as the backend's CPU seconds (``/proc``, so only this
connection's work counts on a shared machine) and the wall clock:

* expiring the oldest day: row by row, as the retention job does (its statement, batches
  of 500, each its own transaction), and the ``VACUUM`` that reclaims the rows, against
  ``DETACH PARTITION ... CONCURRENTLY`` and ``DROP TABLE`` of the day's partition;
* in interleaved rounds, what partitioning costs the senders: writing attempts (the
  worker's ``INSERT ... SELECT FROM unnest``, 200 rows a statement) and reading one
  delivery's attempts (the API's query: every partition is probed, as the query names no
  time), also with a lower bound on ``started_at`` (its delivery's creation day), which
  lets PostgreSQL skip the older partitions.

    python -m benchmarks.partitions_bench [--days 31] [--per-day 20000] [--rounds 5]

Writes ``benchmarks/results/partitions.json`` (or ``$POSTBACK_BENCH_RESULTS``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import uvloop

from benchmarks import common
from benchmarks.pairs import _load, _order, spread
from postback.delivery import retention

PER_DELIVERY = 4
INSERT_ROWS = 200  # the worker writes up to a claim's worth of attempts a statement
INSERTS = 250  # statements per table per round (50,000 attempts)
LOOKUPS = 5000  # deliveries read per table per round

COLUMNS = (
    "delivery_id, number, started_at, duration_ms, request_method, request_url, "
    "request_headers, reply_status, reply_headers, reply_body, reply_truncated, outcome"
)
INSERT = (
    "INSERT INTO {table} (delivery_id, number, started_at, duration_ms, request_headers, "
    "reply_status, reply_body, reply_truncated, outcome) SELECT * FROM unnest("
    "$1::text[], $2::int[], $3::timestamptz[], $4::float8[], $5::text[], $6::int[], "
    "$7::bytea[], $8::bool[], $9::text[])"
)
READ = "SELECT * FROM {table} WHERE delivery_id = $1 ORDER BY number, id"
READ_FROM = "SELECT * FROM {table} WHERE delivery_id = $1 AND started_at >= $2 ORDER BY number, id"


def _day(d: datetime) -> str:
    return d.strftime("%Y%m%d")


async def _partitioned(conn: asyncpg.Connection, first: datetime, days: int) -> None:
    """``attempts_by_day`` with a partition for each day from ``first``, and tomorrow."""
    await conn.execute(
        "CREATE TABLE attempts_by_day (LIKE attempts INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (started_at)"
    )
    await conn.execute("ALTER TABLE attempts_by_day ADD PRIMARY KEY (id, started_at)")
    await conn.execute(
        "ALTER TABLE attempts_by_day ADD FOREIGN KEY (delivery_id) REFERENCES deliveries (id)"
    )
    await conn.execute("CREATE INDEX ON attempts_by_day (delivery_id, number)")
    for d in range(days + 1):
        start = first + timedelta(days=d)
        await conn.execute(
            f"CREATE TABLE attempts_by_day_{_day(start)} PARTITION OF attempts_by_day "
            f"FOR VALUES FROM ('{start.isoformat()}') TO "
            f"('{(start + timedelta(days=1)).isoformat()}')"
        )


async def _seed(
    w: common.World, conn: asyncpg.Connection, first: datetime, days: int, per_day: int
) -> None:
    """The deliveries, then the same attempts into both tables, in time order."""
    per_day_deliveries = per_day // PER_DELIVERY
    await w.postback("p", "http://127.0.0.1:9/p?a={ActionId}")
    await common.seed(
        w, "pt", common.Batch("p", days * per_day_deliveries, "http://127.0.0.1:9/p?n=", first)
    )
    step = 86_400.0 / per_day
    for table in ("attempts", "attempts_by_day"):
        await conn.execute(
            f"INSERT INTO {table} ({COLUMNS}) SELECT 'dlv_pt_' || (1 + i / {PER_DELIVERY}), "
            f"1 + i % {PER_DELIVERY}, $1::timestamptz + make_interval(secs => i * {step}), "
            "1.5, 'GET', NULL, '[]', 200, '[]', 'OK'::bytea, false, 'delivered' "
            "FROM generate_series(0, $2 - 1) AS s(i) ORDER BY i",
            first,
            days * per_day,
        )
    await conn.execute("VACUUM ANALYZE attempts, attempts_by_day, deliveries")
    await common.checkpoint("postgresql")


class Meter:
    """Since start: the CPU seconds of the database's backends (those alive at the end)
    and of this process (the client's side: SQLAlchemy, asyncpg), and the wall clock."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.backends = common.backend_cpu(database)
        self.client, self.wall = time.process_time(), time.perf_counter()

    def read(self) -> dict[str, float]:
        ended = common.backend_cpu(self.database)
        backends = sum(v - self.backends.get(p, 0.0) for p, v in ended.items())
        return {
            "db_cpu_s": round(backends, 3),
            "client_cpu_s": round(time.process_time() - self.client, 3),
            "wall_s": round(time.perf_counter() - self.wall, 3),
        }


async def _measured(database: str, work: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    meter = Meter(database)
    await work()
    return meter.read()


async def expire_oldest_day(
    w: common.World, conn: asyncpg.Connection, first: datetime
) -> dict[str, Any]:
    """The oldest day gone from each table: row by row by the retention job's own code
    (and vacuumed), or its partition detached and dropped."""
    database = w.url.rsplit("/", 1)[1]
    before = first + timedelta(days=1)
    rows = await conn.fetchval("SELECT count(*) FROM attempts WHERE started_at < $1", before)
    deleted = await _measured(database, lambda: retention.prune(w.store, before, pause=0))
    vacuum = await _measured(database, lambda: conn.execute("VACUUM attempts"))
    part = f"attempts_by_day_{_day(first)}"
    detach = await _measured(
        database,
        lambda: conn.execute(f"ALTER TABLE attempts_by_day DETACH PARTITION {part} CONCURRENTLY"),
    )
    drop = await _measured(database, lambda: conn.execute(f"DROP TABLE {part}"))
    by_rows = deleted["db_cpu_s"] + deleted["client_cpu_s"]
    return {
        "rows": rows,
        "row_deletes": deleted,
        "row_deletes_cpu_us_per_row": round(by_rows * 1e6 / max(1, rows), 2),
        "vacuum": vacuum,
        "detach_concurrently": detach,
        "drop_partition": drop,
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 1) if b else None


def _insert_args(start: int, deliveries: int) -> list[Any]:
    now = datetime.now(UTC)
    ids = [f"dlv_pt_{1 + (start + k) % deliveries}" for k in range(INSERT_ROWS)]
    n = INSERT_ROWS
    return [
        ids,
        [9] * n,
        [now] * n,
        [1.5] * n,
        ["[]"] * n,
        [200] * n,
        [b"OK"] * n,
        [False] * n,
        ["delivered"] * n,
    ]


async def sender_costs(
    conn: asyncpg.Connection, pid: int, rounds: int, deliveries: int, first: datetime, per_day: int
) -> dict[str, Any]:
    """Interleaved rounds: CPU per attempt written and per delivery read, each table."""
    rng = random.Random(13)
    writes = {t: conn.prepare(INSERT.format(table=t)) for t in ("attempts", "attempts_by_day")}
    ways = {
        "plain": (READ.format(table="attempts"), False),
        "partitioned": (READ.format(table="attempts_by_day"), False),
        "partitioned_from_creation": (READ_FROM.format(table="attempts_by_day"), True),
    }
    per_day_deliveries = per_day // PER_DELIVERY
    write_us: dict[str, list[float]] = {t: [] for t in writes}
    read_us: dict[str, list[float]] = {k: [] for k in ways}
    prepared_writes = {t: await p for t, p in writes.items()}
    prepared_reads = {k: await conn.prepare(sql) for k, (sql, _) in ways.items()}
    for i in range(rounds):
        for table in _order(i, list(prepared_writes)):
            began = common.cpu_seconds(pid)
            for s in range(INSERTS):
                await prepared_writes[table].fetch(*_insert_args(s * INSERT_ROWS, deliveries))
            used = common.cpu_seconds(pid) - began
            write_us[table].append(used * 1e6 / (INSERTS * INSERT_ROWS))
        picks = [rng.randrange(1, deliveries + 1) for _ in range(LOOKUPS)]
        for way in _order(i, list(prepared_reads)):
            bounded = ways[way][1]
            began = common.cpu_seconds(pid)
            for n in picks:
                args: list[Any] = [f"dlv_pt_{n}"]
                if bounded:
                    args.append(first + timedelta(days=(n - 1) // per_day_deliveries))
                await prepared_reads[way].fetch(*args)
            read_us[way].append((common.cpu_seconds(pid) - began) * 1e6 / LOOKUPS)
    return {
        "write_cpu_us_per_attempt": {t: _median(v) for t, v in write_us.items()},
        "write_partitioned_vs_plain": spread(
            [
                b / a
                for a, b in zip(write_us["attempts"], write_us["attempts_by_day"], strict=True)
                if a
            ]
        ),
        "read_cpu_us_per_delivery": {k: _median(v) for k, v in read_us.items()},
        "read_vs_plain": {
            k: spread([b / a for a, b in zip(read_us["plain"], v, strict=True) if a])
            for k, v in read_us.items()
            if k != "plain"
        },
        "rounds": rounds,
    }


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


async def run(days: int, per_day: int, rounds: int) -> dict[str, Any]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days - 1)
    async with common.world("postgresql") as w:
        conn = await asyncpg.connect(w.url)
        try:
            pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
            await _partitioned(conn, first, days)
            common.say(f"partitions: seeding {days} days of {per_day:,} attempts, twice")
            await _seed(w, conn, first, days, per_day)
            common.say("partitions: the senders' costs, plain against partitioned")
            deliveries = days * (per_day // PER_DELIVERY)
            senders = await sender_costs(conn, pid, rounds, deliveries, first, per_day)
            common.say("partitions: expiring the oldest day")
            expiry = await expire_oldest_day(w, conn, first)
        finally:
            await conn.close()
    return {
        "benchmark": "partitions",
        "days": days,
        "attempts_per_day": per_day,
        "machine_load": _load(),
        "expire_oldest_day": expiry,
        **senders,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.partitions_bench", description=__doc__
    )
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    figures = uvloop.run(run(args.days, args.per_day, args.rounds))
    figures["took_seconds"] = round(time.perf_counter() - began, 1)
    from benchmarks.pairs import _environment

    figures["environment"] = _environment()
    path = common.write_result("partitions", figures)
    common.console.print_json(data=figures)
    common.say(f"partitions: wrote {path}")


if __name__ == "__main__":
    main()
