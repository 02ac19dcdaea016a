"""Fairness: a destination that never answers must not slow the healthy ones down.

Four healthy postbacks send to the receiver on 127.0.0.1; a fifth sends to
``127.0.0.2/slow``, where the receiver sleeps past ``POSTBACK_TOTAL_TIMEOUT`` (2 s), so
every request to it times out. Two runs on fresh PostgreSQL databases, one worker
process each: healthy deliveries alone, then the same healthy deliveries with the bad
postback's interleaved in claim order (a fifth of all deliveries). The healthy rate of
the second run should be at least 90 % of the first. The pair runs two or three times
(quick, full), back to back; the figure is the median of the pairs' ratios.

    python -m benchmarks --only fairness
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks import common
from benchmarks.common import Batch, Drain

NAME = "fairness"
HEALTHY = ("h0", "h1", "h2", "h3")
BAD_HOST = "127.0.0.2"
SIZES = {"smoke": 400, "quick": 8_000, "full": 20_000}  # healthy deliveries per run
TOTAL_TIMEOUT = 2.0
STEP = 1e-6  # seconds between the due times of one postback's rows: interleaves them
TARGET = 0.90
REPEATS = {"smoke": 1, "quick": 2, "full": 3}


async def one_run(n: int, with_bad: bool, mode: str = "quick") -> dict[str, Any]:
    """Drain ``n`` healthy deliveries, with or without the bad destination's share."""
    per = n // len(HEALTHY)
    with common.receiver(("127.0.0.1", BAD_HOST)) as rec:
        async with common.world("postgresql") as w:
            due = common.start_due(mode)
            for name in HEALTHY:
                await w.postback(name, rec.url("/ok?a={ActionId}"))
                await common.seed(w, name, Batch(name, per, rec.url("/ok?n="), due, due_step=STEP))
            if with_bad:
                slow = rec.url("/slow?s=10&n=", host=BAD_HOST)
                await w.postback("bad", slow)
                await common.seed(w, "bad", Batch("bad", per, slow, due, due_step=STEP))
            common.say(f"fairness: {per * len(HEALTHY)} healthy, bad destination: {with_bad}")
            env = {"POSTBACK_TOTAL_TIMEOUT": str(TOTAL_TIMEOUT), "POSTBACK_CONNECT_TIMEOUT": "1"}
            spec = Drain(HEALTHY, per * len(HEALTHY), "ok", env=env)
            figures = await common.drain(w, rec, spec, due)
            bad_sent = rec.count("slow")
            timed_out = await w.sql("SELECT COUNT(*) FROM attempts WHERE outcome = 'timeout'")
    figures.pop("rss_mib")
    return {"bad_destination": with_bad, "bad_requests": bad_sent, "timeouts": timed_out, **figures}


async def run(mode: str) -> dict[str, Any]:
    """Healthy alone, then healthy with the bad destination, as pairs run back to back."""
    n = SIZES[common.check_mode(mode)]
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for _ in range(REPEATS[mode]):
        for with_bad in (False, True):
            runs[with_bad].append(await one_run(n, with_bad, mode))
    return figures(mode, n, runs[False], runs[True])


def figures(
    mode: str, n: int, alone: list[dict[str, Any]], mixed: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ratio is the median over pairs (each pair ran back to back, so a machine that
    gets slower or faster between pairs does not skew it); best-of-each is shown too."""
    pairs = [
        b["deliveries_per_s"] / a["deliveries_per_s"] for a, b in zip(alone, mixed, strict=True)
    ]
    ratio = statistics.median(pairs)
    best = [max(x, key=lambda r: r["deliveries_per_s"]) for x in (alone, mixed)]
    return {
        "benchmark": NAME,
        "mode": mode,
        "healthy_deliveries": n,
        "bad_share": 1 / (len(HEALTHY) + 1),
        "total_timeout_s": TOTAL_TIMEOUT,
        "repeats": len(pairs),
        "healthy_only": {**best[0], "all_deliveries_per_s": _rates(alone)},
        "with_bad_destination": {**best[1], "all_deliveries_per_s": _rates(mixed)},
        "pair_ratios": [round(p, 3) for p in pairs],
        "best_vs_best": round(best[1]["deliveries_per_s"] / best[0]["deliveries_per_s"], 3),
        "with_vs_without": round(ratio, 3),
        "target": {"with_vs_without_at_least": TARGET},
        "target_met": ratio >= TARGET,
    }


def _rates(runs: list[dict[str, Any]]) -> list[float]:
    return [r["deliveries_per_s"] for r in runs]
