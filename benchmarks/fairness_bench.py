"""Fairness: a destination that never answers must not slow the healthy ones down.

Four healthy postbacks send to the receiver on 127.0.0.1; a fifth sends to
``127.0.0.2/slow``, where the receiver sleeps past ``POSTBACK_TOTAL_TIMEOUT`` (2 s), so
every request to it times out. Runs on fresh PostgreSQL databases, one worker process
each: healthy deliveries alone; the same healthy deliveries with the bad postback's
interleaved in claim order (a fifth of all deliveries); and (quick, full) the same
again with the circuit breaker off (``POSTBACK_BREAKER_FAILURES=0``), to show what it
changes. The sides run in interleaved rounds (the order flips every round); each round
gives one ratio per side over the healthy-only run of the same round, and the figure is
the median ratio, with the lowest and highest. Target: at least 95 %.

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
TARGET = 0.95
REPEATS = {"smoke": 1, "quick": 3, "full": 4}
SIDES = {  # side -> (with the bad destination, extra environment)
    "alone": (False, {}),
    "breaker": (True, {}),
    "no_breaker": (True, {"POSTBACK_BREAKER_FAILURES": "0"}),
}


async def one_run(
    n: int, with_bad: bool, mode: str = "quick", extra: dict[str, str] | None = None
) -> dict[str, Any]:
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
            env = {
                "POSTBACK_TOTAL_TIMEOUT": str(TOTAL_TIMEOUT),
                "POSTBACK_CONNECT_TIMEOUT": "1",
                **(extra or {}),
            }
            spec = Drain(HEALTHY, per * len(HEALTHY), "ok", env=env)
            figures = await common.drain(w, rec, spec, due)
            bad_sent = rec.count("slow")
            outcomes = await w.sql(
                "SELECT string_agg(outcome || '=' || n, ',') FROM "
                "(SELECT outcome, COUNT(*) AS n FROM attempts GROUP BY outcome) t"
            )
    figures.pop("rss_mib")
    counted = dict(p.split("=") for p in (outcomes or "").split(",") if p)
    return {
        "bad_destination": with_bad,
        "breaker": "POSTBACK_BREAKER_FAILURES" not in (extra or {}),
        "bad_requests": bad_sent,
        "timeouts": int(counted.get("timeout", 0)),
        "skipped": int(counted.get("skipped", 0)),
        **figures,
    }


async def run(mode: str) -> dict[str, Any]:
    """Rounds of every side, the order flipping every round."""
    n = SIZES[common.check_mode(mode)]
    sides = ["alone", "breaker"] if mode == "smoke" else list(SIDES)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for i in range(REPEATS[mode]):
        for side in sides if i % 2 == 0 else reversed(sides):
            with_bad, extra = SIDES[side]
            runs[side].append(await one_run(n, with_bad, mode, extra))
    return figures(mode, n, runs)


def figures(mode: str, n: int, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Each side's ratios over the healthy-only run of the same round: median, range."""
    alone = runs["alone"]
    ratios = {
        side: [b["deliveries_per_s"] / a["deliveries_per_s"] for a, b in zip(alone, x, strict=True)]
        for side, x in runs.items()
        if side != "alone"
    }
    best = {side: max(x, key=lambda r: r["deliveries_per_s"]) for side, x in runs.items()}
    ratio = statistics.median(ratios["breaker"])
    out: dict[str, Any] = {
        "benchmark": NAME,
        "mode": mode,
        "healthy_deliveries": n,
        "bad_share": 1 / (len(HEALTHY) + 1),
        "total_timeout_s": TOTAL_TIMEOUT,
        "repeats": len(alone),
        "healthy_only": {**best["alone"], "all_deliveries_per_s": _rates(alone)},
        "with_bad_destination": {
            **best["breaker"],
            "all_deliveries_per_s": _rates(runs["breaker"]),
        },
        "pair_ratios": [round(p, 3) for p in ratios["breaker"]],
        "with_vs_without_spread": _spread(ratios["breaker"]),
        "best_vs_best": round(
            best["breaker"]["deliveries_per_s"] / best["alone"]["deliveries_per_s"], 3
        ),
        "with_vs_without": round(ratio, 3),
        "target": {"with_vs_without_at_least": TARGET},
        "target_met": ratio >= TARGET,
    }
    if "no_breaker" in runs:
        out["breaker_off"] = {
            **best["no_breaker"],
            "all_deliveries_per_s": _rates(runs["no_breaker"]),
            "vs_without": _spread(ratios["no_breaker"]),
        }
    return out


def _spread(ratios: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "each": [round(r, 3) for r in ratios],
    }


def _rates(runs: list[dict[str, Any]]) -> list[float]:
    return [r["deliveries_per_s"] for r in runs]
