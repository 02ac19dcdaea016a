"""Rate-limit accuracy: a postback limited to 100 requests/s, three worker processes on
PostgreSQL sharing the limit through the database.

More deliveries than the window can take fall due at once; the receiver's arrival times
are counted over a window that starts one second after the first request (a minute in
full mode, 10 s in quick). The rate must be 100 ± 5 %; no delivery may be sent twice.

    python -m benchmarks --only ratelimit
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from benchmarks import common
from benchmarks.common import Batch

NAME = "ratelimit"
RATE = 100
TOLERANCE = 0.05
WORKERS = 3
MODES = {"smoke": (1.5, 0.5), "quick": (10.0, 1.0), "full": (60.0, 1.0)}  # window, lead-in


def per_second(arrivals: list[float], start: float, seconds: float) -> list[int]:
    """Requests in each whole second of the window."""
    counts = [0] * math.ceil(seconds)
    for at in arrivals:
        k = int(at - start)
        if 0 <= at - start < seconds and k < len(counts):
            counts[k] += 1
    return counts


async def run(mode: str) -> dict[str, Any]:
    """One window with ``WORKERS`` processes (two in smoke mode)."""
    window, lead = MODES[common.check_mode(mode)]
    procs = 2 if mode == "smoke" else WORKERS
    n = int(RATE * (window + lead + 5))
    with common.receiver() as rec:
        async with common.world("postgresql") as w:
            await w.postback("limited", rec.url("/rate?a={ActionId}"), max_requests_per_second=RATE)
            due = common.start_due(mode)
            await common.seed(w, "r", Batch("limited", n, rec.url("/rate?n="), due))
            common.say(f"ratelimit: {RATE}/s, {procs} workers, {window:g} s window")
            with common.workers(w.url, procs) as workers:
                await common.until(lambda: common.listening(w), 30)
                await common.until(lambda: rec.count("rate") > 0, 30, every=0.01)
                first = rec.summary()["rate"]["first"]
                await asyncio.sleep(max(0.0, first + lead + window + 0.2 - common.time.time()))
                arrivals = rec.arrivals("rate")
                seen = rec.summary()["rate"]
                cpu = workers.cpu()
    start = first + lead
    counts = per_second(arrivals, start, window)
    rate = sum(counts) / window
    return {
        "benchmark": NAME,
        "mode": mode,
        "limit_per_s": RATE,
        "workers": procs,
        "window_s": window,
        "requests_in_window": sum(counts),
        "rate_per_s": round(rate, 2),
        "error": round(rate / RATE - 1, 4),
        "per_second": counts,
        "min_second": min(counts),
        "max_second": max(counts),
        "sent_twice": int(seen["count"]) - int(seen["distinct"]),
        "worker_cpu_seconds": round(cpu, 2),
        "target": {"tolerance": TOLERANCE},
        "target_met": abs(rate / RATE - 1) <= TOLERANCE and seen["count"] == seen["distinct"],
    }
