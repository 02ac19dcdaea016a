"""Run the benchmarks side by side, save their figures, write docs/performance.md.

    python -m benchmarks --mode quick|full|smoke [--only NAME ...]
                         [--results DIR] [--docs DIR] [--no-report]

Every benchmark writes ``<results>/<name>.json`` (default ``benchmarks/results``, or
``$POSTBACK_BENCH_RESULTS``); the report (Markdown tables and PNG plots) is written from
whatever results the folder holds, so ``--only`` refreshes part of it.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from rich.table import Table

from benchmarks import (
    backlog_bench,
    ceiling_bench,
    common,
    fairness_bench,
    ingest_bench,
    latency_bench,
    ratelimit_bench,
    report,
    template_bench,
    throughput_bench,
)

Runner = Callable[[str, dict[str, dict[str, Any]]], Any]


def _throughput(mode: str, done: dict[str, dict[str, Any]]) -> Any:
    ceiling = done.get("ceiling") or common.read_result("ceiling") or {}
    return throughput_bench.run(mode, ceiling.get("requests_per_s"))


BENCHMARKS: dict[str, Runner] = {
    "template": lambda mode, _: template_bench.run(mode),
    "ingest": lambda mode, _: ingest_bench.run(mode),
    "ceiling": lambda mode, _: ceiling_bench.run(mode),
    "throughput": _throughput,
    "latency": lambda mode, _: latency_bench.run(mode),
    "backlog": lambda mode, _: backlog_bench.run(mode),
    "fairness": lambda mode, _: fairness_bench.run(mode),
    "ratelimit": lambda mode, _: ratelimit_bench.run(mode),
}


def environment(mode: str) -> dict[str, Any]:
    """Where and how the figures were taken, and how busy the machine was just before."""
    busy = machine_busy(1.0)
    return {
        "benchmark": "environment",
        "mode": mode,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "busy_before_run": busy,
    }


def machine_busy(seconds: float) -> float:
    """The share of all cores busy over the next ``seconds`` (others' work shows here)."""
    before = common.machine_cpu_seconds()
    time.sleep(seconds)
    return round((common.machine_cpu_seconds() - before) / seconds / (os.cpu_count() or 1), 3)


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=common.ROOT, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def run_one(name: str, mode: str, done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One benchmark (sync or async); its figures, with the seconds it took."""
    busy = machine_busy(0.5)
    began = time.perf_counter()
    found = BENCHMARKS[name](mode, done)
    figures: dict[str, Any] = uvloop.run(found) if inspect.isawaitable(found) else found
    figures["took_seconds"] = round(time.perf_counter() - began, 1)
    figures["machine_busy_before"] = busy
    return figures


def run_all(names: list[str], mode: str, results: Path) -> dict[str, dict[str, Any]]:
    """Run ``names`` in order, saving each result as soon as it is known."""
    done: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names, 1):
        common.console.rule(f"[bold]{k}/{len(names)} {name}[/] ({mode})")
        done[name] = run_one(name, mode, done)
        path = common.write_result(name, done[name], results)
        common.say(f"{name}: done in {done[name]['took_seconds']:g} s, wrote {path}")
    return done


def show(done: dict[str, dict[str, Any]]) -> None:
    """A table of the headline figures and whether each target was met."""
    table = Table(title="Benchmarks")
    for column in ("benchmark", "headline", "target met"):
        table.add_column(column)
    for name, figures in done.items():
        met = figures.get("target_met", figures.get("targets_met"))
        shown = "-" if met is None else ("[green]yes[/]" if met else "[red]no[/]")
        table.add_row(name, report.headline(name, figures), shown)
    common.console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--mode", choices=common.MODES, default="quick")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME")
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON")
    parser.add_argument("--docs", type=Path, default=common.ROOT / "docs")
    parser.add_argument("--no-report", action="store_true", help="skip docs/performance.md")
    args = parser.parse_args(argv)
    results = args.results or common.results_dir()
    names = args.only or list(BENCHMARKS)
    common.write_result("environment", environment(args.mode), results)
    done = run_all(names, args.mode, results)
    show(done)
    if not args.no_report:
        written = report.write(results, args.docs)
        common.say(f"report: {written}")


if __name__ == "__main__":
    main()
