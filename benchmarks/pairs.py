"""Ratios measured in interleaved pairs (A, B, B, A, ...), for a machine others share.

A ratio taken from one run of A and then one run of B counts whatever else the machine
did in between; here the two sides alternate, pair after pair (the order flips every
pair so neither side always goes first), each pair gives one ratio, and the figure is
the median ratio with its spread (lowest, highest). Three comparisons:

* ``template``: renders/s of ``postback.template`` over sandboxed Jinja2 (and the naive
  renderer), every case of ``template_bench``, the function case included; in process.
* ``ingest``: events/s with a CEL condition on every postback over without, SQLite and
  PostgreSQL (a fresh database and API process for every run).
* ``retention``: one worker's drain over the large backlog with the retention job
  deleting a day-old third's attempts over the same drain without (the old attempts are
  put back before every run, both sides).

* ``code``: this tree's code over other code (``--base PATH``, a ``src`` folder, e.g.
  from ``git archive``): ingest events/s (PostgreSQL and SQLite), one worker's
  throughput (deliveries/s and CPU per delivery, PostgreSQL and SQLite) and the job
  side alone (``jobside_bench``: claim + complete CPU per delivery). The API server and
  worker processes import ``postback`` from ``PYTHONPATH``; the benchmark itself, its
  seeding and its database schema are this tree's.
* ``commit``: one PostgreSQL worker's throughput with
  ``POSTBACK_WORKER_SYNCHRONOUS_COMMIT=off`` over ``on``.

    python -m benchmarks.pairs [--only template ingest retention code commit] [--pairs N]
        [--base PATH] [--baseline NAME=SRC ...] [--fresh N]

Writes ``benchmarks/results/pairs.json`` (or ``$POSTBACK_BENCH_RESULTS``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import uvloop

from benchmarks import backlog_bench, common, ingest_bench, template_bench

INGEST_TIMING = (2.0, 10.0)  # warm-up, measured seconds: 20,000+ events a run
RETENTION_STORED = 100_000
RETENTION_FRESH = 10_000
TEMPLATE_SECONDS = 0.2  # per side per pair


def spread(ratios: Sequence[float]) -> dict[str, Any]:
    """The median ratio, the geometric mean, the lowest and highest, and every ratio in
    order."""
    return {
        "median": round(statistics.median(ratios), 3),
        "geometric_mean": round(statistics.geometric_mean(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "each": [round(r, 3) for r in ratios],
    }


def _order(i: int, sides: Sequence[str]) -> list[str]:
    """Two sides flip every pair. More rotate every second pair, and every second pair
    runs the one before it backwards: each side goes first in turn, and any one side
    runs as often so many places after another as before it (a drift of the machine's
    load over the run then does not favour either in the median)."""
    if len(sides) <= 2:
        return list(sides) if i % 2 == 0 else list(reversed(sides))
    k = (i // 2) % len(sides)
    turn = [*sides[k:], *sides[:k]]
    return turn if i % 2 == 0 else list(reversed(turn))


# -- template --------------------------------------------------------------------------
def _rate(
    render: Callable[[Mapping[str, Any]], str], params: Mapping[str, Any], loops: int
) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        render(params)
    return loops / (time.perf_counter() - start)


def template(pairs: int) -> dict[str, Any]:
    """Every case: ours against each other renderer, interleaved pair by pair."""
    cases: dict[str, tuple[dict[str, Any], Mapping[str, Any]]] = {
        name: (template_bench.renderers(text, ctx), params)
        for name, (text, ctx, params) in template_bench.CASES.items()
    }
    for name, (text, jinja_text, ctx, params) in template_bench.WITH_FUNCTIONS.items():
        cases[name] = (template_bench.function_renderers(text, jinja_text, ctx), params)
    out: dict[str, Any] = {}
    for name, (found, params) in cases.items():
        outputs = {k: r(params).encode() for k, r in found.items()}
        assert len(set(outputs.values())) == 1, f"{name}: the renderers differ"
        loops = {
            k: template_bench._calibrate(r, params, TEMPLATE_SECONDS) for k, r in found.items()
        }
        rates: dict[str, list[float]] = {k: [] for k in found}
        for i in range(pairs):
            for k in _order(i, list(found)):
                rates[k].append(_rate(found[k], params, loops[k]))
        others = [k for k in found if k != "postback"]
        out[name] = {
            "renders_per_s_median": {k: round(statistics.median(v)) for k, v in rates.items()},
            **{
                f"vs_{k}": spread([a / b for a, b in zip(rates["postback"], rates[k], strict=True)])
                for k in others
            },
        }
        common.say(
            f"template {name}: "
            + ", ".join(f"vs {k} {out[name][f'vs_{k}']['median']}" for k in others)
        )
    return {
        "pairs": pairs,
        "seconds_per_side": TEMPLATE_SECONDS,
        "targets": template_bench.TARGETS,
        "cases": out,
    }


# -- ingest ----------------------------------------------------------------------------
async def ingest(pairs: int) -> dict[str, Any]:
    """Both databases; for each pair, one run without and one with conditions."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        kind: {"without": [], "with": []} for kind in ("sqlite", "postgresql")
    }
    for i in range(pairs):
        for kind, sides in runs.items():
            for side in _order(i, ["without", "with"]):
                common.say(f"ingest pair {i + 1}/{pairs}: {kind} {side}")
                found = await ingest_bench.one_run(kind, "quick", side == "with", INGEST_TIMING)
                found["machine_load"] = _load()
                sides[side].append(found)
    out: dict[str, Any] = {
        "pairs": pairs,
        "warmup_s": INGEST_TIMING[0],
        "measured_s": INGEST_TIMING[1],
        "conditions": list(ingest_bench.CONDITIONS),
        "target_at_least": ingest_bench.CONDITION_TARGET,
    }
    for kind, sides in runs.items():
        ratio = [
            b["events_per_s"] / a["events_per_s"]
            for a, b in zip(sides["without"], sides["with"], strict=True)
        ]
        cpu = [
            b["server_cpu_ms_per_event"] / a["server_cpu_ms_per_event"]
            for a, b in zip(sides["without"], sides["with"], strict=True)
        ]
        out[kind] = {
            "events_per_s": {s: [r["events_per_s"] for r in v] for s, v in sides.items()},
            "server_cpu_ms_per_event": {
                s: [r["server_cpu_ms_per_event"] for r in v] for s, v in sides.items()
            },
            "errors": sum(r["errors"] for v in sides.values() for r in v),
            "with_vs_without": spread(ratio),
            "server_cpu_with_vs_without": spread(cpu),
            "runs": sides,
        }
    out["fan_out_cpu_us_per_event"] = ingest_bench.fan_out_cpu(3000)
    return out


# -- code and commit: the job side's A/B ----------------------------------------------------
CODE_SIZES = {"throughput": 10_000, "jobside": 10_000}
JOBSIDE_BATCH = 50  # about what a worker claims and flushes at a time at 2,000/s


@contextlib.contextmanager
def _code(src: str | None) -> Iterator[None]:
    """Subprocesses (API server, workers) started inside import ``postback`` from ``src``."""
    before = os.environ.get("PYTHONPATH")
    if src:
        os.environ["PYTHONPATH"] = src
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _jobside(src: str | None) -> dict[str, Any]:
    """``jobside_bench`` in a process of its own, importing ``postback`` from ``src``."""
    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
    out = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.jobside_bench"),
            *("--n", str(CODE_SIZES["jobside"]), "--batch", str(JOBSIDE_BATCH)),
            *("--no-count", "--json"),
        ],
        env=env,
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    drain: dict[str, Any] = json.loads(out.stdout)["drain"]
    return drain


async def _one_side(case: str, src: str | None, env: dict[str, str]) -> dict[str, Any]:
    kind, what = case.split(":")
    with _code(src):
        if what == "ingest":
            return await ingest_bench.one_run(kind, "quick", False, INGEST_TIMING)
        if what == "jobside":
            return await asyncio.to_thread(_jobside, src)
        n = CODE_SIZES["throughput"]
        with common.receiver() as rec:
            async with common.world(kind) as w:
                await w.postback("bench", rec.url("/ok?a={ActionId}"))
                due = common.start_due("quick")
                await common.seed(w, "t", common.Batch("bench", n, rec.url("/ok?n="), due))
                spec = common.Drain(["bench"], n, "ok", 1, env)
                found = await common.drain(w, rec, spec, due)
        found.pop("rss_mib", None)
        found["worker_cpu_ms_per_delivery"] = found["cpu_ms_per_delivery"]["workers"]
        return found


FIGURE = {"ingest": "events_per_s", "throughput": "deliveries_per_s", "jobside": "client_cpu_us"}
CPU = {"ingest": "server_cpu_ms_per_event", "throughput": "worker_cpu_ms_per_delivery"}


async def versus(
    pairs: int, cases: Sequence[str], sides: dict[str, tuple[str | None, dict[str, str]]]
) -> dict[str, Any]:
    """Each case, side A then B (order flipped every pair); ratios B over A."""
    names = list(sides)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {c: {n: [] for n in names} for c in cases}
    for i in range(pairs):
        for case in cases:
            for side in _order(i, names):
                common.say(f"pair {i + 1}/{pairs}: {case} {side}")
                src, env = sides[side]
                found = await _one_side(case, src, env)
                found["machine_load"] = _load()
                runs[case][side].append(found)
    a, b = names
    out: dict[str, Any] = {"pairs": pairs, "sides": {k: v[0] for k, v in sides.items()}}
    for case, by_side in runs.items():
        what = case.split(":")[1]
        figure = {"figure": FIGURE[what]}
        for key in (FIGURE[what], CPU.get(what)):
            if key is None or key not in by_side[a][0]:
                continue
            figure[f"{key}_{b}_over_{a}"] = spread(
                [y[key] / x[key] for x, y in zip(by_side[a], by_side[b], strict=True) if x[key]]
            )
            figure[key] = {s: [r[key] for r in v] for s, v in by_side.items()}
        out[case] = {**figure, "runs": by_side}
        common.say(f"{case}: {json.dumps({k: v for k, v in figure.items() if 'over' in k})}")
    return out


CODE_CASES = (
    "postgresql:ingest",
    "sqlite:ingest",
    "postgresql:throughput",
    "sqlite:throughput",
    "postgresql:jobside",
)


def _load() -> float:
    return float(open("/proc/loadavg").read().split()[0])


# -- retention -------------------------------------------------------------------------
async def retention(
    pairs: int, baselines: Mapping[str, str] | None = None, fresh: int = RETENTION_FRESH
) -> dict[str, Any]:
    """The large backlog; each pair drains fresh work with and without the job (and, for
    each of ``baselines``, name -> a ``src`` folder of other code, with that code's job)."""
    envs: dict[str, dict[str, str] | None] = {
        "without": None,
        "with": backlog_bench.RETENTION_ENV,
    }
    for name, src in (baselines or {}).items():
        envs[f"with_{name}"] = {**backlog_bench.RETENTION_ENV, "PYTHONPATH": src}
    sides: dict[str, list[dict[str, Any]]] = {side: [] for side in envs}
    async with common.world("postgresql") as w:
        await backlog_bench.prepare(w, RETENTION_STORED)
        with common.receiver() as rec:
            for i in range(pairs):
                for k, side in enumerate(_order(i, list(envs))):
                    found = await _retention_run(w, rec, f"r{i}s{k}", envs[side], fresh)
                    sides[side].append(found)
                    common.say(f"retention pair {i + 1}/{pairs}: {side} done")
    others = [s for s in sides if s not in ("without", "with")]
    comparisons = [("without", s) for s in ("with", *others)] + [(s, "with") for s in others]
    return {
        "pairs": pairs,
        "stored": RETENTION_STORED,
        "fresh": fresh,
        "env_with": backlog_bench.RETENTION_ENV,
        "baselines": dict(baselines or {}),
        "target_at_least": 1 - backlog_bench.RETENTION_TARGET,
        "deliveries_per_s": {s: [r["deliveries_per_s"] for r in v] for s, v in sides.items()},
        "old_attempts_deleted_in_drain": {
            s: [r["old_attempts_deleted_in_drain"] for r in v] for s, v in sides.items()
        },
        **{f"{b}_vs_{a}": _compare(sides[a], sides[b]) for a, b in comparisons},
        "runs": sides,
    }


async def _count_old_every(w: common.World, seconds: float, into: list[tuple[float, int]]) -> None:
    """Sample how many old attempts are left, every ``seconds``, until cancelled."""
    while True:
        into.append((time.time(), int(await w.sql(backlog_bench.OLD_COUNT))))
        await asyncio.sleep(seconds)


def _deleted_between(counts: list[tuple[float, int]], start: float, end: float) -> int | None:
    """Old attempts deleted from the last sample before ``start`` to the first after
    ``end`` (so a little more than the drain's own time); None without such samples."""
    before = [n for t, n in counts if t <= start]
    after = [n for t, n in counts if t >= end]
    return before[-1] - after[0] if before and after else None


# A checkpoint during a run (every 5 min, or by WAL volume) writes out every dirty page.
CHECKPOINTS = "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"


async def _retention_run(
    w: common.World,
    rec: common.ReceiverProcess,
    tag: str,
    env: dict[str, str] | None,
    fresh: int,
) -> dict[str, Any]:
    """One drain over freshly put-back old attempts, with what was left of them after."""
    before = await backlog_bench.put_back_old_attempts(w)
    checkpoints = await w.sql(CHECKPOINTS)
    counts: list[tuple[float, int]] = []
    sampler = asyncio.create_task(_count_old_every(w, 0.5, counts))
    try:
        found = await backlog_bench.drain_fresh(w, rec, fresh, "quick", tag, env)
    finally:
        sampler.cancel()
    found["old_attempts_before"] = before
    found["old_attempts_after"] = await w.sql(backlog_bench.OLD_COUNT)
    found["old_attempts_deleted_in_drain"] = _deleted_between(
        counts, found["began_at"], found["began_at"] + found["seconds"]
    )
    found["checkpoints"] = await w.sql(CHECKPOINTS) - checkpoints
    found["machine_load"] = _load()
    found.pop("rss_mib", None)
    return found


def _compare(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """Rate ratios (B over A) of every pair and of the pairs in which no send failed
    (a shed send waits out its retry back-off, so that run times the back-off), and the
    CPU per delivery of the worker and of its database's backends, B over A."""
    both = list(zip(a, b, strict=True))
    rate = [y["deliveries_per_s"] / x["deliveries_per_s"] for x, y in both]
    clean = [r for r, (x, y) in zip(rate, both, strict=True) if not _failed(x) and not _failed(y)]
    cpu = {
        part: spread([_cpu(y, part) / _cpu(x, part) for x, y in both if _cpu(x, part)])
        for part in ("workers", "postgres_db")
    }
    return {
        "rate": spread(clean) if clean else None,
        "clean_pairs": len(clean),
        "job_ran_out": sum(1 for r in (*a, *b) if r.get("old_attempts_after") == 0),
        "rate_all_pairs": spread(rate),
        "cpu_per_delivery": cpu,
    }


def _failed(run: dict[str, Any]) -> bool:
    return bool(run.get("failed_attempts"))


def _cpu(run: dict[str, Any], part: str) -> float:
    return float(run["cpu_ms_per_delivery"].get(part, 0.0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pairs", description=__doc__)
    parser.add_argument(
        "--only", nargs="+", choices=("template", "ingest", "retention", "code", "commit")
    )
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="NAME=SRC",
        help="retention: also drain with the job of the code in the folder SRC (e.g. an "
        "older commit's src/, from git archive), as side with_NAME of the same pairs",
    )
    parser.add_argument(
        "--fresh",
        type=int,
        default=RETENTION_FRESH,
        help="retention: fresh deliveries each drain (longer drains average out more of "
        "a shared machine's load)",
    )
    parser.add_argument("--base", help="code: the src folder to compare this tree's with")
    parser.add_argument("--this", help="code: the src folder to use for this tree's side")
    parser.add_argument("--cases", nargs="+", help=f"code: some of {', '.join(CODE_CASES)}")
    args = parser.parse_args(argv)
    path = common.results_dir() / "pairs.json"
    found = common.read_result("pairs") or {}
    env = _environment()
    for name in args.only or ("template", "ingest", "retention"):
        common.console.rule(f"[bold]{name}[/] ({args.pairs} pairs)")
        began = time.perf_counter()
        if name == "template":
            figures = template(args.pairs)
        elif name in ("ingest", "retention"):
            figures = uvloop.run(
                ingest(args.pairs)
                if name == "ingest"
                else retention(args.pairs, dict(b.split("=", 1) for b in args.baseline), args.fresh)
            )
        elif name == "code":
            if not args.base:
                parser.error("code needs --base PATH (a src folder)")
            this = args.this or str(common.ROOT / "src")
            sides = {"base": (args.base, {}), "this": (this, {})}
            figures = uvloop.run(versus(args.pairs, args.cases or CODE_CASES, sides))
        else:
            flag = "POSTBACK_WORKER_SYNCHRONOUS_COMMIT"
            sides = {"on": (None, {flag: "on"}), "off": (None, {flag: "off"})}
            figures = uvloop.run(versus(args.pairs, ["postgresql:throughput"], sides))
        figures["took_seconds"] = round(time.perf_counter() - began, 1)
        figures["environment"] = env
        found[name] = figures
        common.write_result("pairs", {"benchmark": "pairs", **found})
        common.say(f"{name}: wrote {path}")


def _environment() -> dict[str, Any]:
    from benchmarks.__main__ import environment

    return {k: v for k, v in environment("pairs").items() if k != "benchmark"}


if __name__ == "__main__":
    main()
