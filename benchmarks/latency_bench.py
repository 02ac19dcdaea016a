"""Latency at a steady rate: from an event's due time to the receiver getting the request.

An injector process (``benchmarks.injector``) stores events due now at 1,000 per second
(through the store, requests pre-rendered); one ``postback worker`` process on
PostgreSQL sends each to the loopback receiver, whose URL carries the due time, so the
receiver records ``arrival - due``. A rate *holds* when the injector keeps it (95 %) and
the worker keeps up: when the injector stops, at most 100 ms worth of events are still
to be sent. If 1,000/s does not hold on this machine, lower rates are tried and the
highest that holds is reported as well. The tables start with delivered history (100,000
rows in full mode) and statistics, and ``VACUUM (ANALYZE)`` runs every 10 s with
autovacuum's default cost delay (2 ms), as autovacuum would (it is off on the
benchmark server).

    python -m benchmarks --only latency
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

from benchmarks import common

NAME = "latency"
TARGET_RATE = 1000
FALLBACK_RATES = (750, 500, 250)
TARGET_P99_MS = 50.0
MODES = {"smoke": (1.5, 0.3), "quick": (8.0, 1.0), "full": (30.0, 2.0)}  # seconds, warm-up
SETTLE = 10.0  # seconds after the injector stops for the last deliveries
HISTORY = {"smoke": 2_000, "quick": 20_000, "full": 100_000}  # delivered rows stored before
VACUUM_EVERY = 10.0
BEHIND = 0.1  # seconds of events at most still unsent when the injector stops


async def inject(w: common.World, prefix: str, rate: int, seconds: float) -> dict[str, float]:
    """Run the injector process; its figures."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.injector",
        w.url,
        w.postbacks["lat"],
        w.partner_id,
        prefix,
        str(rate),
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
        cwd=common.ROOT,
    )
    out, _ = await proc.communicate()
    return json.loads(out)  # type: ignore[no-any-return]


def summarise(latencies: list[float], arrivals: list[float], warmup: float) -> dict[str, Any]:
    """Percentiles (ms) of the latencies of requests after the warm-up."""
    start = arrivals[0] + warmup if arrivals else 0.0
    kept = sorted(v * 1000 for v, at in zip(latencies, arrivals, strict=False) if at >= start)
    return {
        "samples": len(kept),
        "p50_ms": round(common.percentile(kept, 0.50), 2),
        "p90_ms": round(common.percentile(kept, 0.90), 2),
        "p99_ms": round(common.percentile(kept, 0.99), 2),
        "max_ms": round(kept[-1], 2) if kept else 0.0,
        "cdf_ms": [round(common.percentile(kept, q / 100), 2) for q in range(101)],
    }


async def seed_history(w: common.World, rec: common.ReceiverProcess, n: int) -> None:
    """Delivered rows from before, so the tables and their statistics look lived in."""
    old = common.utcnow() - timedelta(days=1)
    await common.seed(w, "hist", common.Batch("lat", n, rec.url("/old?n="), old, "delivered", 1))
    await common.checkpoint(w.kind)


async def at_rate(
    w: common.World, rec: common.ReceiverProcess, procs: common.Workers, rate: int, mode: str
) -> dict[str, Any]:
    """One steady run at ``rate`` events per second."""
    seconds, warmup = MODES[mode]
    rec.reset()
    common.say(f"latency: {rate}/s for {seconds:g} s")
    cpu, children = common.Usage(procs, rec), common.children_cpu()
    injected = await inject(w, rec.url("/lat?due="), rate, seconds)
    behind = injected["events"] - rec.count("lat")
    await common.until(lambda: rec.count("lat") >= injected["events"], SETTLE)
    used = cpu.since()
    seen = rec.count("lat")
    holds = injected["rate"] >= 0.95 * rate and behind <= BEHIND * rate
    return {
        "target_rate": rate,
        "injected_rate": round(injected["rate"], 1),
        "events": int(injected["events"]),
        "received": seen,
        "holds": holds,
        "unsent_when_injector_stopped": behind,
        "slowest_ingest_ms": round(injected["slowest_ingest_s"] * 1000, 1),
        "p99_ingest_ms": round(injected["p99_ingest_s"] * 1000, 1),
        "cpu_ms_per_delivery": {
            "worker": round(used["workers"] * 1000 / max(1, seen), 3),
            "injector": round((common.children_cpu() - children) * 1000 / max(1, seen), 3),
            "postgres": round(used["postgres"] * 1000 / max(1, seen), 3),
            "receiver": round(used["receiver"] * 1000 / max(1, seen), 3),
            "machine": round(used["machine"] * 1000 / max(1, seen), 3),
        },
        **summarise(rec.latencies("lat"), rec.arrivals("lat"), warmup),
    }


async def run(mode: str) -> dict[str, Any]:
    """1,000/s, then lower rates until one holds (if 1,000/s does not)."""
    common.check_mode(mode)
    runs: list[dict[str, Any]] = []
    with common.receiver() as rec:
        async with common.world("postgresql") as w:
            await w.postback("lat", rec.url("/lat?due={SubId1}&a={ActionId}"))
            await seed_history(w, rec, HISTORY[mode])
            vacuum = asyncio.create_task(common.vacuum_every(w, VACUUM_EVERY))
            with common.workers(w.url, 1) as procs:
                await common.until(lambda: common.listening(w), 30)
                for rate in (TARGET_RATE, *FALLBACK_RATES):
                    runs.append(await at_rate(w, rec, procs, rate, mode))
                    if runs[-1]["holds"] or mode == "smoke":
                        break
            vacuum.cancel()
    return _figures(mode, runs)


def _figures(mode: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    held = next((r for r in runs if r["holds"]), None)
    first = runs[0]
    return {
        "benchmark": NAME,
        "mode": mode,
        "seconds": MODES[mode][0],
        "target": {"rate": TARGET_RATE, "p99_ms": TARGET_P99_MS},
        "runs": runs,
        "rate_held": held["target_rate"] if held else None,
        "target_met": first["holds"] and first["p99_ms"] < TARGET_P99_MS,
    }
