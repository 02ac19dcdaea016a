"""Ceiling: what a bare aiohttp client gets from the same receiver, with no storage.

``benchmarks.client`` (uvloop, one keep-alive session, the worker's concurrency: 512 in
flight over 50 connections per host) sends N GET requests like the worker's to the
loopback receiver. Requests per second, best of a few repeats; the throughput
benchmark divides by this.

    python -m benchmarks --only ceiling
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks import common
from postback.config import Settings
from postback.delivery.worker import WorkerOptions

NAME = "ceiling"
MODES = {"smoke": (2_000, 1), "quick": (20_000, 3), "full": (50_000, 3)}  # requests, repeats


def client_run(rec: common.ReceiverProcess, n: int) -> dict[str, float]:
    """One run of the bare client in its own process; its figures and CPU seconds."""
    concurrency = WorkerOptions().concurrency
    per_host = Settings().per_host_concurrency
    cmd = [sys.executable, "-m", "benchmarks.client", rec.url("/ok?n="), str(n)]
    cmd += ["--concurrency", str(concurrency), "--per-host", str(per_host)]
    rec_cpu, own = rec.cpu(), common.children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=common.ROOT)
    figures: dict[str, float] = json.loads(done.stdout)
    figures["receiver_cpu_seconds"] = rec.cpu() - rec_cpu
    figures["client_cpu_seconds"] = common.children_cpu() - own
    return figures


async def run(mode: str) -> dict[str, Any]:
    """The best of the mode's repeats."""
    n, repeats = MODES[common.check_mode(mode)]
    runs = []
    with common.receiver() as rec:
        common.say(f"ceiling: {repeats} x {n} requests")
        for _ in range(repeats):
            runs.append(client_run(rec, n))
            rec.reset()
    rates = [r["requests"] / r["seconds"] for r in runs]
    best = runs[rates.index(max(rates))]
    return {
        "benchmark": NAME,
        "mode": mode,
        "requests": n,
        "concurrency": WorkerOptions().concurrency,
        "per_host_connections": Settings().per_host_concurrency,
        "requests_per_s": round(max(rates), 1),
        "all_requests_per_s": [round(r, 1) for r in rates],
        "failures": sum(int(r["failures"]) for r in runs),
        "client_cpu_ms_per_request": round(best["client_cpu_seconds"] * 1000 / n, 4),
        "receiver_cpu_ms_per_request": round(best["receiver_cpu_seconds"] * 1000 / n, 4),
    }
