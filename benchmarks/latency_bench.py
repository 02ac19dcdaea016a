"""Latency at steady rates: from an event's due time to the receiver getting the request.

An injector process (``benchmarks.injector``) stores events due now at a steady rate
(through the store, requests pre-rendered); one ``postback worker`` process on
PostgreSQL sends each to the loopback receiver, whose URL carries the due time, so the
receiver records ``arrival - due``. The rate steps up, 500, 1,000, 1,500, 2,000 and
3,000/s (smoke: only the traced run below). A rate *holds* when the injector keeps it (95 %) and the
worker keeps up: when the injector stops, at most 100 ms worth of events are still to be
sent. The figures: p99 at 1,000/s (target < 50 ms) and the highest rate that holds with
a p99 under 100 ms (target >= 2,000/s).

Before the steps, one run at 1,000/s with ``benchmarks.traced_worker`` (the same worker,
with timestamps along the path) gives the tail's breakdown by stage
(:mod:`benchmarks.tail`): commit, waiting to be claimed, the claim, waiting to be sent,
the send; GC pauses and event-loop lag. The tables start with delivered history (100,000
rows in full mode) and statistics, and ``VACUUM (ANALYZE)`` runs every 10 s with
autovacuum's default cost delay (2 ms), as autovacuum would (it is off on the benchmark
server).

    python -m benchmarks --only latency
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import common, tail

NAME = "latency"
TARGET_RATE = 1000
RATES = (500, 1000, 1500, 2000, 3000)
TARGET_P99_MS = 50.0
STEP_P99_MS = 100.0  # the highest rate holding a p99 under this is reported
TARGET_HIGHEST = 2000
MODES = {"smoke": (1.5, 0.3), "quick": (8.0, 1.0), "full": (30.0, 2.0)}  # seconds, warm-up
SETTLE = 10.0  # seconds after the injector stops for the last deliveries
HISTORY = {"smoke": 2_000, "quick": 20_000, "full": 100_000}  # delivered rows stored before
VACUUM_EVERY = 10.0
BEHIND = 0.1  # seconds of events at most still unsent when the injector stops


async def inject(w: common.World, prefix: str, rate: int, seconds: float) -> dict[str, Any]:
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


SHED = "SELECT COUNT(*) FROM attempts WHERE outcome = 'timeout' AND error LIKE 'not sent:%'"


async def _shed(w: common.World) -> int:
    """Attempts failed unsent because the destination's lane was full and slow."""
    return int(await w.sql(SHED) or 0)


async def seed_history(w: common.World, rec: common.ReceiverProcess, n: int) -> None:
    """Delivered rows from before, so the tables and their statistics look lived in."""
    old = common.utcnow() - timedelta(days=1)
    await common.seed(w, "hist", common.Batch("lat", n, rec.url("/old?n="), old, "delivered", 1))
    await common.checkpoint(w.kind)


async def at_rate(
    w: common.World, rec: common.ReceiverProcess, procs: common.Workers, rate: int, mode: str
) -> dict[str, Any]:
    """One steady run at ``rate`` events per second (the injector's log under
    ``_injected``, for the tail breakdown)."""
    seconds, warmup = MODES[mode]
    rec.reset()
    common.say(f"latency: {rate}/s for {seconds:g} s")
    cpu, children = common.Usage(procs, rec), common.children_cpu()
    began, shed = time.monotonic(), await _shed(w)
    injected = await inject(w, rec.url("/lat?due="), rate, seconds)
    behind = injected["events"] - rec.count("lat")
    await common.until(lambda: rec.count("lat") >= injected["events"], SETTLE)
    used, wall = cpu.since(), time.monotonic() - began
    seen = rec.count("lat")
    holds = injected["rate"] >= 0.95 * rate and behind <= BEHIND * rate
    return {
        "_injected": injected,
        "shed": await _shed(w) - shed,
        # Share of all cores busy (every process on the machine) while this rate ran.
        "machine_busy": round(used["machine"] / (wall * (os.cpu_count() or 1)), 3),
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
    """The traced run at 1,000/s, then every rate in turn with a plain worker."""
    common.check_mode(mode)
    runs: list[dict[str, Any]] = []
    with common.receiver() as rec:
        async with common.world("postgresql") as w:
            await w.postback("lat", rec.url("/lat?due={SubId1}&a={ActionId}"))
            await seed_history(w, rec, HISTORY[mode])
            vacuum = asyncio.create_task(common.vacuum_every(w, VACUUM_EVERY))
            tail = await traced(w, rec, mode)
            if mode == "smoke":  # the traced run stands for the plain one: a quick check
                runs.append(tail["run"])
            else:
                with common.workers(w.url, 1) as procs:
                    await common.until(lambda: common.listening(w), 30)
                    for rate in RATES:
                        runs.append(await at_rate(w, rec, procs, rate, mode))
                        runs[-1].pop("_injected")
            vacuum.cancel()
    return _figures(mode, runs, tail)


async def traced(
    w: common.World, rec: common.ReceiverProcess, mode: str, variant: str = ""
) -> dict[str, Any]:
    """One run at 1,000/s with the traced worker (``variant``: see traced_worker); its
    figures and the tail breakdown."""
    with tempfile.TemporaryDirectory(prefix="postback_trace_") as folder:
        path = Path(folder) / "trace.json"
        env = {"POSTBACK_TRACE_FILE": str(path), "POSTBACK_BENCH_VARIANT": variant}
        with common.workers(w.url, 1, "benchmarks.traced_worker", **env) as procs:
            await common.until(lambda: common.listening(w), 30)
            found = await at_rate(w, rec, procs, TARGET_RATE, mode)
            arrived = rec.arrivals_by_id("lat")
        trace = json.loads(path.read_text())
    injected = found.pop("_injected")
    since = injected["batches"][0][2] + MODES[mode][1] if injected["batches"] else 0.0
    records = tail.paths(injected, trace, arrived, since)
    return {"run": found, **tail.breakdown(records, trace)}


def highest(runs: list[dict[str, Any]]) -> int | None:
    """The highest rate that holds with a p99 under STEP_P99_MS."""
    good = [r["target_rate"] for r in runs if r["holds"] and r["p99_ms"] < STEP_P99_MS]
    return max(good, default=None)


def _figures(mode: str, runs: list[dict[str, Any]], tail_: dict[str, Any]) -> dict[str, Any]:
    at_target = next(r for r in runs if r["target_rate"] == TARGET_RATE)
    best = highest(runs)
    return {
        "benchmark": NAME,
        "mode": mode,
        "seconds": MODES[mode][0],
        "target": {
            "rate": TARGET_RATE,
            "p99_ms": TARGET_P99_MS,
            "highest_rate_p99_ms": STEP_P99_MS,
            "highest_rate_at_least": TARGET_HIGHEST,
        },
        "runs": runs,
        "rate_held": best,
        "highest_rate_p99_under_100ms": best,
        "target_met": at_target["holds"] and at_target["p99_ms"] < TARGET_P99_MS,
        "highest_target_met": best is not None and best >= TARGET_HIGHEST,
        "tail": tail_,
    }
