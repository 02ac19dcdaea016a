"""Backlog: does a big table slow the worker down or make it grow?

Two PostgreSQL databases, one with 1,000 deliveries already stored and one with
1,000,000 (100,000 in quick mode): a third scheduled in the future, a third retrying in
the future (one to three attempts made) and a third delivered (each with its logged
attempt), all seeded with INSERT ... SELECT generate_series and then ANALYZEd (as
autovacuum would). In each, N fresh deliveries fall due at once and one worker process
drains them; the two rates should be within 20 %, and the worker's RSS, sampled every
100 ms, should stay flat. (PostgreSQL only: it is the database for a backlog this big.)

    python -m benchmarks --only backlog
"""

from __future__ import annotations

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


async def seed_backlog(w: common.World, rec: common.ReceiverProcess, size: int) -> float:
    """Store ``size`` old deliveries (thirds: scheduled, retrying, delivered); seconds taken."""
    began = common.utcnow()
    third = size // 3
    url = rec.url("/backlog?n=")
    now = common.utcnow()
    day = 86_400.0
    await common.seed(w, "bs", Batch("old", third, url, now + timedelta(hours=1), due_spread=day))
    await common.seed(
        w, "br", Batch("old", third, url, now + timedelta(minutes=5), "retrying", 2, 0, 3600.0)
    )
    done = size - 2 * third
    await common.seed(w, "bd", Batch("old", done, url, now - timedelta(days=1), "delivered", 1))
    await w.sql(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, request_method, "
        "request_url, request_headers, reply_status, reply_headers, reply_body, "
        "reply_truncated, outcome) SELECT id, 1, due_at, 1.5, method, url, '[]', 200, "
        "'[[\"Content-Type\",\"text/plain\"]]', 'OK', false, 'delivered' FROM deliveries "
        "WHERE status = 'delivered'"
    )
    await w.sql("ANALYZE")
    return (common.utcnow() - began).total_seconds()


async def one_run(stored: int, fresh: int, mode: str = "quick") -> dict[str, Any]:
    """Drain ``fresh`` due deliveries with ``stored`` old ones in the table."""
    with common.receiver() as rec:
        async with common.world("postgresql") as w:
            await w.postback("old", rec.url("/backlog?a={ActionId}"))
            await w.postback("fresh", rec.url("/ok?a={ActionId}"))
            common.say(f"backlog: seeding {stored:,} stored deliveries")
            seeded_in = await seed_backlog(w, rec, stored)
            due = common.start_due(mode)
            await common.seed(w, "f", Batch("fresh", fresh, rec.url("/ok?n="), due))
            common.say(f"backlog: {fresh:,} fresh deliveries over {stored:,} stored")
            figures = await common.drain(w, rec, Drain(["fresh"], fresh, "ok"), due)
            size = await w.sql("SELECT pg_total_relation_size('deliveries')")
    rss = [m for _, m in figures["rss_mib"]]
    return {
        "stored": stored,
        "seed_seconds": round(seeded_in, 1),
        "deliveries_table_mib": round(size / 2**20, 1),
        "rss_start_mib": rss[0] if rss else None,
        "rss_max_mib": max(rss, default=None),
        "rss_end_mib": rss[-1] if rss else None,
        **figures,
    }


async def run(mode: str) -> dict[str, Any]:
    """Small backlog, then the large one."""
    fresh = FRESH[common.check_mode(mode)]
    small = await one_run(SMALL, fresh, mode)
    large = await one_run(LARGE[mode], fresh, mode)
    ratio = large["deliveries_per_s"] / small["deliveries_per_s"]
    growth = max(r["rss_max_mib"] - r["rss_start_mib"] for r in (small, large))
    return {
        "benchmark": NAME,
        "mode": mode,
        "database": "postgresql",
        "fresh": fresh,
        "small": small,
        "large": large,
        "large_vs_small": round(ratio, 3),
        "rss_growth_mib": round(growth, 1),
        "target": {"large_vs_small_at_least": 1 - TARGET_GAP, "rss_growth_mib_at_most": FLAT_MIB},
        "target_met": ratio >= 1 - TARGET_GAP and growth <= FLAT_MIB,
    }
