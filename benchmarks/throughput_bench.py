"""Delivery throughput: deliveries per second from due to delivered-and-logged.

N deliveries (bulk SQL) fall due at once; ``python -m postback worker`` processes send
them to the loopback receiver; the clock runs from the due time until a COUNT query sees
all N delivered. Runs: SQLite with one process, PostgreSQL with one process and with
every core (``postback worker --processes N``). Each is compared with the ceiling (a bare
aiohttp client on the same receiver) and reports CPU per delivery for the workers,
PostgreSQL, the receiver and the machine.

Then `postback serve` with its workers in the same process against `serve --no-workers`
beside one `postback worker`, on PostgreSQL, in interleaved pairs (the deliveries are
POSTs with a JSON body): the ratio of each pair, and the median pair's serve run as the
row "serve".

    python -m benchmarks --only throughput
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks import common
from benchmarks.common import Batch, Drain
from benchmarks.receiver import free_port

NAME = "throughput"
TARGETS = {
    "postgresql_x1_vs_ceiling": 0.60,
    "postgresql_all_cores_vs_ceiling": 0.80,
    "sqlite_x1_vs_ceiling": 0.50,
    "serve_vs_separate_at_least": 0.95,  # in every pair
}
SIZES = {"smoke": 600, "quick": 10_000, "full": 40_000}
SERVE_PAIRS = {"smoke": 1, "quick": 3, "full": 3}
CORES = os.cpu_count() or 1
ALL_CORES = f"postgresql_x{CORES}"
JSON_BODY = '{"event": "action.tracked", "amount": "12.50", "currency": "EUR"}'
# Seconds from seeding to the due time: every process up and listening by then, even a
# parent that migrates before starting its children, or serve, on a loaded machine.
LEAD = {"smoke": 5.0, "quick": 8.0, "full": 8.0}
SERVE_ENV = {"POSTBACK_ADMIN_KEY": "bench-operator-key"}  # no key printed at start


def commands(side: str) -> list[list[str]]:
    """The processes of one run: ``postgresql_xN`` is ``postback worker --processes N``;
    ``serve`` has the workers in the API's process, ``separate`` beside it."""
    serve = ["serve", "--port", str(free_port())]
    if side == "serve":
        return [[*serve, "--processes", "1"]]
    if side == "separate":
        return [[*serve, "--no-workers"], ["worker", "--processes", "1"]]
    return [["worker", "--processes", side.rsplit("_x", 1)[1]]]


async def one_run(
    kind: str, side: str, n: int, mode: str = "quick", body: str | None = None
) -> dict[str, Any]:
    """Seed ``n`` due deliveries on a fresh database, drain them with ``side``'s processes."""
    procs = int(side.rsplit("_x", 1)[1]) if "_x" in side else 1
    with common.receiver() as rec:
        async with common.world(kind) as w:
            await w.postback("bench", rec.url("/ok?a={ActionId}"))
            due = common.later(LEAD[mode])
            method = "GET" if body is None else "POST"
            batch = Batch("bench", n, rec.url("/ok?n="), due, method=method, body=body)
            await common.seed(w, "t", batch)
            common.say(f"throughput: {kind} {side}, {n} deliveries")
            env = SERVE_ENV if side in ("serve", "separate") else {}
            spec = Drain(["bench"], n, "ok", procs, env=env, commands=commands(side))
            figures = await common.drain(w, rec, spec, due)
    figures.pop("rss_mib")
    return {"database": kind, **figures}


def _order(i: int, sides: Sequence[str]) -> list[str]:
    return list(sides) if i % 2 == 0 else list(reversed(sides))


async def serve_pairs(n: int, mode: str, pairs: int) -> dict[str, Any]:
    """``serve`` vs ``separate`` on PostgreSQL, interleaved (A B, B A, ...)."""
    runs: dict[str, list[dict[str, Any]]] = {"serve": [], "separate": []}
    for i in range(pairs):
        for side in _order(i, list(runs)):
            runs[side].append(await one_run("postgresql", side, n, mode, JSON_BODY))
    pairs_of = list(zip(runs["serve"], runs["separate"], strict=True))
    ratios = [s["deliveries_per_s"] / p["deliveries_per_s"] for s, p in pairs_of]
    cpu = [_cpu(s) / _cpu(p) for s, p in pairs_of]
    median = sorted(range(pairs), key=lambda k: ratios[k])[pairs // 2]
    return {
        "serve": runs["serve"][median],
        "separate": runs["separate"][median],
        "serve_vs_separate": {
            **_spread(ratios),
            "serve_per_s": [r["deliveries_per_s"] for r in runs["serve"]],
            "separate_per_s": [r["deliveries_per_s"] for r in runs["separate"]],
            "serve_cpu_ms": [_cpu(r) for r in runs["serve"]],
            "separate_cpu_ms": [_cpu(r) for r in runs["separate"]],
            "serve_retried": [r["retried"] for r in runs["serve"]],
            "separate_retried": [r["retried"] for r in runs["separate"]],
        },
        # CPU per delivery of every process of each side (the API's too): what a
        # delivery costs, which a busy machine inflates less than it slows the rate.
        "serve_cpu_vs_separate": _spread(cpu),
        # The pairs in which neither run had a delivery retried (see common.count_retried).
        "serve_vs_separate_unretried": _spread(
            [
                r
                for r, (s, p) in zip(ratios, pairs_of, strict=True)
                if not s["retried"] + p["retried"]
            ]
        ),
    }


def _cpu(run: dict[str, Any]) -> float:
    return float(run["cpu_ms_per_delivery"]["workers"])


def _spread(ratios: Sequence[float]) -> dict[str, Any]:
    if not ratios:
        return {"pairs": 0}
    return {
        "pairs": len(ratios),
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "each": [round(r, 3) for r in ratios],
    }


def _ratios(runs: dict[str, dict[str, Any]], ceiling: float | None) -> dict[str, Any]:
    if not ceiling:
        return {}
    return {name: round(r["deliveries_per_s"] / ceiling, 3) for name, r in runs.items()}


def targets_met(ratios: dict[str, Any], serve: dict[str, Any]) -> dict[str, bool]:
    """Each target of :data:`TARGETS` and whether this run met it."""
    least = TARGETS["serve_vs_separate_at_least"]
    return {
        "postgresql_x1_vs_ceiling": ratios.get("postgresql_x1", 0)
        >= TARGETS["postgresql_x1_vs_ceiling"],
        "postgresql_all_cores_vs_ceiling": ratios.get(ALL_CORES, 0)
        >= TARGETS["postgresql_all_cores_vs_ceiling"],
        "sqlite_x1_vs_ceiling": ratios.get("sqlite_x1", 0) >= TARGETS["sqlite_x1_vs_ceiling"],
        "serve_vs_separate_at_least": serve["serve_vs_separate"]["min"] >= least,
    }


async def run(mode: str, ceiling: float | None = None) -> dict[str, Any]:
    """Every run of this benchmark; ``ceiling`` (requests/s) gives the ratios."""
    n = SIZES[common.check_mode(mode)]
    sides = [("sqlite", "sqlite_x1"), ("postgresql", "postgresql_x1")]
    if CORES > 1:
        sides.append(("postgresql", ALL_CORES))
    runs = {side: await one_run(kind, side, n, mode) for kind, side in sides}
    serve = await serve_pairs(n, mode, SERVE_PAIRS[mode])
    runs["serve"], runs["separate"] = serve.pop("serve"), serve.pop("separate")
    ratios = _ratios(runs, ceiling)
    met = targets_met(ratios, serve)
    return {
        "benchmark": NAME,
        "mode": mode,
        "deliveries": n,
        "cores": CORES,
        "all_cores": ALL_CORES,
        "ceiling_requests_per_s": ceiling,
        "runs": runs,
        "vs_ceiling": ratios,
        **serve,
        "target": TARGETS,
        "targets": met,
        "target_met": all(met.values()),
    }
