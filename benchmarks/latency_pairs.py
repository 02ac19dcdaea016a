"""Latency side by side: the worker as it is (A) against a variant of its tuning (B), in
interleaved runs at one steady rate, for a machine others share.

    python -m benchmarks.latency_pairs --variant gc0=20000 [--rate 1000] [--pairs 5]
        [--mode quick] [--name NAME]

One PostgreSQL database with delivered history, one receiver; every run starts a fresh
worker process (``benchmarks.traced_worker``, untraced; B with
``POSTBACK_BENCH_VARIANT``), injects at ``rate`` for the mode's time and measures due →
received as the latency benchmark does. Runs go A B, B A, A B, ...; each pair gives the
ratios B / A of p50, p90 and p99; the figures are their medians with the lowest and
highest. Adds ``NAME`` (default: the variant) to ``benchmarks/results/latency-pairs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import common, latency_bench
from benchmarks.pairs import _order, spread

QUANTILES = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
LOADAVG = Path("/proc/loadavg")


async def one(
    w: common.World, rec: common.ReceiverProcess, variant: str, rate: int, mode: str
) -> dict[str, Any]:
    env = {"POSTBACK_BENCH_VARIANT": variant} if variant else {}
    await common.until(lambda: _nobody_listening(w), 30)
    with common.workers(w.url, 1, "benchmarks.traced_worker", **env) as procs:
        await common.until(lambda: common.listening(w), 30)
        found = await latency_bench.at_rate(w, rec, procs, rate, mode)
    found.pop("_injected")
    found.pop("cdf_ms")
    found["load_average"] = load_average()
    return found


def load_average() -> float:
    return float(LOADAVG.read_text().split()[0])


async def _nobody_listening(w: common.World) -> bool:
    return await common.listening(w) == 0


async def compare(variant: str, rate: int, pairs: int, mode: str) -> dict[str, Any]:
    sides: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with common.receiver() as rec:
        async with common.world("postgresql") as w:
            await w.postback("lat", rec.url("/lat?due={SubId1}&a={ActionId}"))
            await latency_bench.seed_history(w, rec, latency_bench.HISTORY[mode])
            vacuum = asyncio.create_task(common.vacuum_every(w, latency_bench.VACUUM_EVERY))
            for i in range(pairs):
                for side in _order(i, ["A", "B"]):
                    common.say(f"latency pair {i + 1}/{pairs}: {side}")
                    sides[side].append(
                        await one(w, rec, variant if side == "B" else "", rate, mode)
                    )
            vacuum.cancel()
    ratios = {
        q: spread([b[q] / max(a[q], 1e-9) for a, b in zip(sides["A"], sides["B"], strict=True)])
        for q in QUANTILES
    }
    return {
        "variant": variant,
        "rate": rate,
        "mode": mode,
        "pairs": pairs,
        "b_over_a": ratios,
        "median_ms": {
            side: {q: round(statistics.median(r[q] for r in runs), 2) for q in QUANTILES}
            for side, runs in sides.items()
        },
        "holds": {side: [r["holds"] for r in runs] for side, runs in sides.items()},
        "runs": sides,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency_pairs", description=__doc__)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--mode", default="quick", choices=common.MODES)
    parser.add_argument("--name")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    figures = uvloop.run(compare(args.variant, args.rate, args.pairs, args.mode))
    figures["took_seconds"] = round(time.perf_counter() - began, 1)
    found = common.read_result("latency-pairs") or {"benchmark": "latency-pairs"}
    found[args.name or args.variant] = figures
    path = common.write_result("latency-pairs", found)
    b = figures["b_over_a"]
    common.say(
        f"{args.variant} at {args.rate}/s, B/A: p50 {b['p50_ms']['median']}, "
        f"p90 {b['p90_ms']['median']}, p99 {b['p99_ms']['median']} "
        f"({b['p99_ms']['min']}-{b['p99_ms']['max']}); wrote {path}"
    )


if __name__ == "__main__":
    main()
