"""Delivery throughput: deliveries per second from due to delivered-and-logged.

N deliveries (bulk SQL) fall due at once; ``python -m postback worker`` processes send
them to the loopback receiver; the clock runs from the due time until a COUNT query sees
all N delivered. Runs: SQLite with one process, PostgreSQL with one and two. Each is
compared with the ceiling (a bare aiohttp client on the same receiver) and reports CPU
per delivery for the workers, PostgreSQL, the receiver and the machine.

    python -m benchmarks --only throughput
"""

from __future__ import annotations

from typing import Any

from benchmarks import common
from benchmarks.common import Batch, Drain

NAME = "throughput"
TARGET = 0.70  # PostgreSQL deliveries/s at least this share of the ceiling
SIZES = {"smoke": 600, "quick": 10_000, "full": 40_000}
RUNS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))


async def one_run(kind: str, procs: int, n: int, mode: str = "quick") -> dict[str, Any]:
    """Seed ``n`` due deliveries on a fresh database, drain them with ``procs`` workers."""
    with common.receiver() as rec:
        async with common.world(kind) as w:
            await w.postback("bench", rec.url("/ok?a={ActionId}"))
            due = common.start_due(mode)
            await common.seed(w, "t", Batch("bench", n, rec.url("/ok?n="), due))
            common.say(f"throughput: {kind} x{procs}, {n} deliveries")
            figures = await common.drain(w, rec, Drain(["bench"], n, "ok", procs), due)
    figures.pop("rss_mib")
    return {"database": kind, **figures}


def _ratios(runs: dict[str, dict[str, Any]], ceiling: float | None) -> dict[str, Any]:
    if not ceiling:
        return {}
    return {name: round(r["deliveries_per_s"] / ceiling, 3) for name, r in runs.items()}


async def run(mode: str, ceiling: float | None = None) -> dict[str, Any]:
    """Every run of this benchmark; ``ceiling`` (requests/s) gives the ratios."""
    n = SIZES[common.check_mode(mode)]
    runs = {f"{kind}_x{procs}": await one_run(kind, procs, n, mode) for kind, procs in RUNS}
    ratios = _ratios(runs, ceiling)
    pg = [v for k, v in ratios.items() if k.startswith("postgresql")]
    return {
        "benchmark": NAME,
        "mode": mode,
        "deliveries": n,
        "ceiling_requests_per_s": ceiling,
        "runs": runs,
        "vs_ceiling": ratios,
        "target": {"postgresql_vs_ceiling": TARGET},
        "target_met": bool(pg) and max(pg) >= TARGET,
    }
