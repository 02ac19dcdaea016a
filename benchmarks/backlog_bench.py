"""Backlog: does a big table slow the worker down or make it grow?

Two PostgreSQL databases, one with 1,000 deliveries already stored and one with
1,000,000 (100,000 in quick mode): a third scheduled in the future, a third retrying in
the future (one to two hours ahead, so that none falls due during a long run of pairs)
and a third delivered (each with its logged
attempt), all seeded with INSERT ... SELECT generate_series and then ANALYZEd (as
autovacuum would). In each, N fresh deliveries fall due at once and one worker process
drains them; the two rates should be within 20 %, and the worker's RSS, sampled every
100 ms, should stay flat. Both databases exist side by side and the drains alternate
between them (twice each, best of two; the fresh rows are deleted and vacuumed after
each). PostgreSQL only: it is the database for a backlog this big.

    python -m benchmarks --only backlog
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from benchmarks import common
from benchmarks.common import Batch, Drain

NAME = "backlog"
SMALL = 1_000
LARGE = {"smoke": 5_000, "quick": 100_000, "full": 1_000_000}
FRESH = {"smoke": 500, "quick": 10_000, "full": 20_000}
TARGET_GAP = 0.20  # large-backlog rate at least 80 % of the small-backlog rate
FLAT_MIB = 16.0  # RSS may grow this much over a run and still count as flat


OLD_ATTEMPTS = (
    "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, request_method, "
    "request_url, request_headers, reply_status, reply_headers, reply_body, "
    "reply_truncated, outcome) SELECT id, 1, due_at, 1.5, method, url, '[]', 200, "
    "'[[\"Content-Type\",\"text/plain\"]]', 'OK', false, 'delivered' FROM deliveries "
    "WHERE status = 'delivered'"
)
#: The retention case: the worker's job deletes old attempts (the delivered third's, a
#: day old and more) while it drains; every 0.2 s, so it starts as the drain does. Each
#: of those deliveries gets ``OLD_PER_DELIVERY`` attempts an hour apart, stored in time
#: order as a worker writes them: enough that the job is still deleting when the drain
#: ends (about 8,000 rows/s on two shared cores).
OLD_PER_DELIVERY = 4
RETENTION_OLD_ATTEMPTS = (
    "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, request_method, "
    "request_url, request_headers, reply_status, reply_headers, reply_body, "
    f"reply_truncated, outcome) SELECT id, n, due_at - ({OLD_PER_DELIVERY} - n) * "
    "interval '1 hour', 1.5, "
    "method, url, '[]', 200, '[[\"Content-Type\",\"text/plain\"]]', 'OK', false, "
    f"'delivered' FROM deliveries, generate_series(1, {OLD_PER_DELIVERY}) AS s(n) "
    "WHERE status = 'delivered' ORDER BY 3, 1"
)
OLD_COUNT = "SELECT count(*) FROM attempts WHERE started_at < now() - interval '12 hours'"
RETENTION_ENV = {"POSTBACK_RETENTION_DAYS": "0.5", "POSTBACK_RETENTION_INTERVAL": "0.2"}
RETENTION_TARGET = 0.10  # sending rate with the job running within 10 % of without


async def seed_backlog(w: common.World, url: str, size: int) -> float:
    """Store ``size`` old deliveries (thirds: scheduled, retrying, delivered); seconds taken."""
    began = common.utcnow()
    third = size // 3
    now = common.utcnow()
    day = 86_400.0
    await common.seed(w, "bs", Batch("old", third, url, now + timedelta(hours=1), due_spread=day))
    await common.seed(
        w, "br", Batch("old", third, url, now + timedelta(hours=1), "retrying", 2, 0, 3600.0)
    )
    done = size - 2 * third
    await common.seed(w, "bd", Batch("old", done, url, now - timedelta(days=1), "delivered", 1))
    await w.sql(OLD_ATTEMPTS)
    await w.sql("ANALYZE")
    await common.checkpoint(w.kind)
    return (common.utcnow() - began).total_seconds()


REPEATS = {"smoke": 1, "quick": 2, "full": 2}
TABLE_SIZE = "SELECT pg_total_relation_size('deliveries')"


async def drain_fresh(
    w: common.World,
    rec: common.ReceiverProcess,
    fresh: int,
    mode: str,
    tag: str,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Drain ``fresh`` new due deliveries, then delete them so the next run starts alike."""
    rec.reset()
    due = common.start_due(mode)
    await common.seed(w, tag, Batch("fresh", fresh, rec.url("/ok?n="), due))
    figures = await common.drain(w, rec, Drain(["fresh"], fresh, "ok", env=env or {}), due)
    pid = w.postbacks["fresh"]
    fresh_attempts = f"delivery_id IN (SELECT id FROM deliveries WHERE postback_id = '{pid}')"
    # A send the worker shed as slow (a loaded machine stalls it for 0.25 s) waits for its
    # retry, which makes the drain's time that back-off: such a run is not comparable.
    failed = await w.sql(
        f"SELECT count(*) FROM attempts WHERE {fresh_attempts} AND outcome <> 'delivered'"
    )
    await w.sql(f"DELETE FROM attempts WHERE {fresh_attempts}")
    await w.sql(f"DELETE FROM deliveries WHERE postback_id = '{pid}'")
    await w.sql(f"DELETE FROM events WHERE id LIKE 'ev-{tag}-%'")
    await common.vacuum(w)
    rss = _while_sending(figures)
    return {
        "rss_start_mib": rss[0] if rss else None,
        "rss_max_mib": max(rss, default=None),
        "rss_end_mib": rss[-1] if rss else None,
        "failed_attempts": int(failed),
        **figures,
    }


def _while_sending(figures: dict[str, Any]) -> list[float]:
    """The workers' RSS samples from the first request on: a worker still importing
    when the drain began (``ready_before_due`` false) grows by its start-up, not by
    the backlog, and that is not what "flat" is about."""
    first = figures.get("first_request_after_s") or 0.0
    samples = figures["rss_mib"]
    sending = [m for t, m in samples if t >= first]
    return sending or [m for _, m in samples[-1:]]


async def prepare(w: common.World, stored: int) -> float:
    """The postbacks and ``stored`` old deliveries; the seconds seeding took."""
    await w.postback("old", "http://127.0.0.1:9/backlog?a={ActionId}")
    await w.postback("fresh", "http://127.0.0.1:9/ok?a={ActionId}")
    common.say(f"backlog: seeding {stored:,} stored deliveries")
    return await seed_backlog(w, "http://127.0.0.1:9/backlog?n=", stored)


def _best(stored: int, seeded: float, size: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(runs, key=lambda r: r["deliveries_per_s"])
    return {
        "stored": stored,
        "seed_seconds": round(seeded, 1),
        "deliveries_table_mib": round(size / 2**20, 1),
        "all_deliveries_per_s": [r["deliveries_per_s"] for r in runs],
        "rss_growth_mib": max(r["rss_max_mib"] - r["rss_start_mib"] for r in runs),
        **best,
    }


async def run(mode: str) -> dict[str, Any]:
    """Both databases side by side; fresh drains alternate between them, best of each."""
    fresh = FRESH[common.check_mode(mode)]
    sizes = {"small": SMALL, "large": LARGE[mode]}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in sizes}
    async with contextlib.AsyncExitStack() as stack:
        worlds = {k: await stack.enter_async_context(common.world("postgresql")) for k in sizes}
        seeded = {k: await prepare(worlds[k], n) for k, n in sizes.items()}
        rec = stack.enter_context(common.receiver())
        pruning: list[dict[str, Any]] = []
        for i in range(REPEATS[mode]):
            for k, w in worlds.items():
                common.say(f"backlog: {fresh:,} fresh deliveries over {sizes[k]:,} stored")
                runs[k].append(await drain_fresh(w, rec, fresh, mode, f"f{i}"))
            pruning.append(await drain_while_pruning(worlds["large"], rec, fresh, mode, f"r{i}"))
        tables = {k: await w.sql(TABLE_SIZE) for k, w in worlds.items()}
    cases = {k: _best(sizes[k], seeded[k], tables[k], runs[k]) for k in sizes}
    figures = _figures(mode, fresh, cases["small"], cases["large"])
    return {**figures, "retention": _retention(cases["large"], pruning)}


async def drain_while_pruning(
    w: common.World, rec: common.ReceiverProcess, fresh: int, mode: str, tag: str
) -> dict[str, Any]:
    """The large case again, with the worker's retention job deleting old attempts."""
    before = await put_back_old_attempts(w)
    common.say(f"backlog: {fresh:,} fresh over the large backlog, pruning {before:,} attempts")
    figures = await drain_fresh(w, rec, fresh, mode, tag, RETENTION_ENV)
    return {**figures, "old_attempts_before": before, "old_attempts_after": await w.sql(OLD_COUNT)}


async def put_back_old_attempts(w: common.World) -> int:
    """Old attempts for the retention job to delete, the same before every run (the ones
    a run left are deleted first); how many."""
    await w.sql("DELETE FROM attempts WHERE started_at < now() - interval '12 hours'")
    await w.sql(RETENTION_OLD_ATTEMPTS)
    await common.vacuum(w)
    return int(await w.sql(OLD_COUNT))


def _retention(without: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(runs, key=lambda r: r["deliveries_per_s"])
    ratio = best["deliveries_per_s"] / without["deliveries_per_s"]
    return {
        "deliveries_per_s": best["deliveries_per_s"],
        "all_deliveries_per_s": [r["deliveries_per_s"] for r in runs],
        "without_deliveries_per_s": without["deliveries_per_s"],
        "with_vs_without": round(ratio, 3),
        "old_attempts_before": [r["old_attempts_before"] for r in runs],
        "old_attempts_after": [r["old_attempts_after"] for r in runs],
        "target": {"with_vs_without_at_least": 1 - RETENTION_TARGET},
        "target_met": ratio >= 1 - RETENTION_TARGET,
    }


def _figures(mode: str, fresh: int, small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    ratio = large["deliveries_per_s"] / small["deliveries_per_s"]
    growth = max(small["rss_growth_mib"], large["rss_growth_mib"])
    return {
        "benchmark": NAME,
        "mode": mode,
        "database": "postgresql",
        "fresh": fresh,
        "repeats": REPEATS[mode],
        "small": small,
        "large": large,
        "large_vs_small": round(ratio, 3),
        "rss_growth_mib": round(growth, 1),
        "target": {"large_vs_small_at_least": 1 - TARGET_GAP, "rss_growth_mib_at_most": FLAT_MIB},
        "target_met": ratio >= 1 - TARGET_GAP and growth <= FLAT_MIB,
    }
