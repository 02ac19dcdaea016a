"""docs/performance.md from the results folder: Markdown tables and matplotlib plots.

Only what the JSON files hold is shown, so the page always matches the committed
figures. Hand-written findings (profiles, changes made) come from
``benchmarks/notes/*.md``, included in name order at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

NOTES = Path(__file__).resolve().parent / "notes"
Results = dict[str, dict[str, Any]]
DPI = 110


# -- small helpers ------------------------------------------------------------------------
def load(results: Path) -> Results:
    """Every ``<name>.json`` in the folder, by name; ``before/`` holds the code as found's
    figures, ``earlier/<run>/`` whole runs kept from before this one."""
    found = _run(results)
    before = results / "before"
    if before.is_dir():
        found["before"] = _run(before)
    earlier = results / "earlier"
    if earlier.is_dir():
        found["earlier"] = {d.name: _run(d) for d in sorted(earlier.iterdir()) if d.is_dir()}
    return found


def _run(folder: Path) -> Results:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _each(run: dict[str, Any]) -> str:
    return ", ".join(f"{v:,.0f}" for v in run.get("all_deliveries_per_s", []))


def pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f} %"


def met(flag: Any) -> str:
    if flag is None:
        return "-"
    return "met" if flag else "**missed**"


def figure(path: Path, draw: Callable[[Any], None], size: tuple[float, float] = (7, 3.6)) -> str:
    """Draw one plot into ``path`` (PNG); the Markdown image line for it."""
    fig, ax = plt.subplots(figsize=size)
    draw(ax)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return f"![{path.stem}](performance/{path.name})"


def bars(ax: Any, labels: Sequence[str], values: Sequence[float], ylabel: str) -> None:
    shown = ax.bar(labels, values, color="#4C72B0")
    ax.bar_label(shown, fmt="{:,.0f}", fontsize=8)
    ax.set_ylabel(ylabel)


# -- headlines ------------------------------------------------------------------------------
def headline(name: str, r: dict[str, Any]) -> str:
    """One line per benchmark, for the console and the summary."""
    f = HEADLINES.get(name)
    return f(r) if f else "-"


def _h_ingest(r: dict[str, Any]) -> str:
    runs = r["runs"]
    out = ", ".join(f"{k}: {v['events_per_s']:,.0f} events/s" for k, v in runs.items())
    ratio = r.get("conditions_ratio")
    if ratio:
        out += "; with conditions " + ", ".join(f"{k} {pct(v)}" for k, v in ratio.items())
    return out


def _h_throughput(r: dict[str, Any]) -> str:
    parts = []
    for k, v in r["runs"].items():
        if k == "separate":
            continue
        ratio = r["vs_ceiling"].get(k)
        parts.append(f"{k}: {v['deliveries_per_s']:,.0f}/s ({pct(ratio)})")
    serve = r.get("serve_vs_separate")
    if serve:
        parts.append(f"serve vs separate {serve['min']:g}-{serve['max']:g}")
    return ", ".join(parts)


def _h_latency(r: dict[str, Any]) -> str:
    return ", ".join(
        f"{x['target_rate']}/s: p50 {x['p50_ms']:g} / p99 {x['p99_ms']:g} / max {x['max_ms']:g} ms"
        + ("" if x["holds"] else " (does not hold)")
        for x in r["runs"]
    )


def _h_template(r: dict[str, Any]) -> str:
    seed = r["cases"]["seed_url"]
    return f"seed URL {seed['renders_per_second']['postback']:,} renders/s"


HEADLINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "template": _h_template,
    "ingest": _h_ingest,
    "ceiling": lambda r: f"{r['requests_per_s']:,.0f} requests/s",
    "throughput": _h_throughput,
    "latency": _h_latency,
    "backlog": lambda r: (
        f"{r['small']['deliveries_per_s']:,.0f} vs {r['large']['deliveries_per_s']:,.0f}/s "
        f"({pct(r['large_vs_small'])}), RSS +{r['rss_growth_mib']:g} MiB"
    ),
    "fairness": lambda r: (
        f"healthy rate with the bad destination: {pct(r['with_vs_without'])} of the rate "
        "without (median of pairs)"
    ),
    "ratelimit": lambda r: f"{r['rate_per_s']:g}/s for {r['limit_per_s']}/s ({r['error']:+.1%})",
}
TARGETS = {
    "template": "≥ 2x Jinja2, ≥ 3x naive",
    "ingest": "with a condition on every postback ≥ 85 % of the events/s without",
    "ceiling": "-",
    "throughput": "of the ceiling: PostgreSQL one worker process ≥ 60 %, all cores ≥ 80 %; "
    "SQLite ≥ 50 %; serve ≥ 0.95 of a separate worker in every pair",
    "latency": "p99 < 50 ms at 1,000/s; p99 < 100 ms up to ≥ 2,000/s",
    "backlog": "large ≥ 80 % of small; RSS flat",
    "fairness": "healthy rate ≥ 95 % of the rate without the bad destination",
    "ratelimit": "limit ± 5 %, nothing sent twice",
}
ORDER = ("ingest", "ceiling", "throughput", "latency", "backlog", "fairness", "ratelimit")


# -- sections -------------------------------------------------------------------------------
def header(res: Results) -> str:
    env = res.get("environment", {})
    busy = env.get("busy_before_run")
    return "\n".join(
        [
            "# Performance",
            "",
            "Generated by `python -m benchmarks` (`make bench` runs `--mode full`, "
            "`make bench-quick` `--mode quick`) from the JSON in `benchmarks/results/`; "
            "the benchmarks run one after another in one run so that ratios compare "
            "figures taken under the same conditions. Every delivery benchmark sends to a "
            "loopback receiver (`benchmarks/receiver.py`, aiohttp on uvloop) in a process "
            "of its own; workers are real `python -m postback worker` processes.",
            "",
            table(
                ["mode", "date", "commit", "machine", "Python", "busy before the run"],
                [
                    [
                        env.get("mode"),
                        env.get("date"),
                        env.get("commit"),
                        f"{env.get('cpus')} x {env.get('cpu_model')}",
                        env.get("python"),
                        pct(busy) if busy is not None else None,
                    ]
                ],
            ),
        ]
    )


def summary(res: Results) -> str:
    rows = []
    for name in ("template", *ORDER):
        r = res.get(name)
        if r is not None:
            flag = r.get("target_met", r.get("targets_met"))
            rows.append([name, headline(name, r), TARGETS[name], met(flag)])
    return "## Summary\n\n" + table(["benchmark", "figures", "target", "met"], rows)


def ingest(res: Results, out: Path) -> str:
    r = res["ingest"]
    runs = r["runs"]
    rows = [
        [
            k,
            v["events_per_s"],
            v["deliveries_per_s"],
            v["batch_ms_p50"],
            v["batch_ms_p99"],
            v["server_cpu_ms_per_event"],
            v["events"],
            v["errors"],
        ]
        for k, v in runs.items()
    ]
    img = figure(
        out / "ingest.png",
        lambda ax: bars(ax, list(runs), [v["events_per_s"] for v in runs.values()], "events/s"),
        (5, 3.2),
    )
    return "\n\n".join(
        [
            "## 1. Ingest",
            f"`POST /v1/events` with batches of {r['batch']} events, {r['in_flight']} batches "
            f"in flight, each event fanning out to {r['fan_out']} postbacks; the API runs "
            "under uvicorn in its own process.",
            table(
                [
                    "database",
                    "events/s",
                    "deliveries/s",
                    "batch p50 ms",
                    "batch p99 ms",
                    "server CPU ms/event",
                    "events",
                    "errors",
                ],
                rows,
            ),
            img,
            *_ingest_conditions(r),
        ]
    )


def _ingest_conditions(r: dict[str, Any]) -> list[str]:
    """The runs with a CEL condition on every postback, beside those without."""
    if "runs_with_conditions" not in r:
        return []
    rows = [
        [k, r["runs"][k]["events_per_s"], v["events_per_s"], r["conditions_ratio"].get(k)]
        for k, v in r["runs_with_conditions"].items()
    ]
    conds = "; ".join(f"`{c}`" for c in r["conditions"])
    return [
        f"With a condition on every postback ({conds}; each holds, so the fan-out is the "
        "same), run right after the run without on the same database. Target: at least "
        f"0.85 of the events/s without; met: {met(r['target_met'])}.",
        table(["database", "events/s without", "events/s with", "ratio"], rows),
        "CPU per event of matching to deliveries in one process (conditions and renders, "
        "no HTTP, no database): {without} µs without conditions, {with} µs with.".format(
            **r["fan_out_cpu_us_per_event"]
        ),
    ]


def ceiling(res: Results) -> str:
    r = res["ceiling"]
    return "\n\n".join(
        [
            "## 2. Ceiling",
            f"A bare aiohttp client (uvloop, keep-alive, {r['concurrency']} in flight over "
            f"{r['per_host_connections']} connections) sending {r['requests']:,} GET requests "
            "like the worker's to the same receiver, no storage; best of the repeats.",
            table(
                ["requests/s", "each repeat", "client CPU ms/request", "receiver CPU ms/request"],
                [
                    [
                        r["requests_per_s"],
                        ", ".join(f"{v:,.0f}" for v in r["all_requests_per_s"]),
                        r["client_cpu_ms_per_request"],
                        r["receiver_cpu_ms_per_request"],
                    ]
                ],
            ),
        ]
    )


def throughput(res: Results, out: Path) -> str:
    r = res["throughput"]
    runs, ratios = r["runs"], r["vs_ceiling"]
    rows = [
        [
            k,
            v["deliveries_per_s"],
            v["steady_per_s"],
            pct(ratios.get(k)),
            v["seconds"],
            v["cpu_ms_per_delivery"]["workers"],
            v["cpu_ms_per_delivery"]["postgres"],
            v["cpu_ms_per_delivery"]["receiver"],
            v["cpu_ms_per_delivery"]["machine"],
            v["sent_twice"],
        ]
        for k, v in runs.items()
    ]
    img = figure(out / "throughput.png", lambda ax: _throughput_plot(ax, r))
    cpu = figure(out / "cpu.png", lambda ax: _cpu_plot(ax, runs))
    return "\n\n".join(
        [
            "## 3. Throughput",
            f"{r['deliveries']:,} deliveries fall due at once; the clock runs from the due "
            "time until a COUNT query sees every one delivered and logged. *steady* is the "
            "receiver's rate between the 10th and 90th percentile arrivals. CPU is per "
            "delivery, from `/proc/<pid>/stat` (machine: every process, from `/proc/stat`). "
            "*postgresql_xN* is `postback worker --processes N` (one parent, N worker "
            "processes); the last such row uses every core.",
            table(
                [
                    "run",
                    "deliveries/s",
                    "steady/s",
                    "vs ceiling",
                    "seconds",
                    "worker CPU ms",
                    "PostgreSQL CPU ms",
                    "receiver CPU ms",
                    "machine CPU ms",
                    "sent twice",
                ],
                rows,
            ),
            *_serve_vs_separate(r),
            _throughput_targets(r),
            img,
            cpu,
        ]
    )


def _serve_vs_separate(r: dict[str, Any]) -> list[str]:
    """The serve pairs: each pair's ratio, both sides' rates."""
    pairs = r.get("serve_vs_separate")
    if not pairs:
        return []
    columns = (
        "serve_per_s",
        "separate_per_s",
        "each",
        "serve_cpu_ms",
        "separate_cpu_ms",
        "serve_retried",
        "separate_retried",
    )
    rows = [
        [i + 1, *(pairs[c][i] if c in pairs else "-" for c in columns)]
        for i in range(len(pairs["each"]))
    ]
    return [
        "`serve` (`postback serve --processes 1`: the API and the workers in one process) "
        "against `separate` (`postback serve --no-workers` beside one `postback worker "
        "--processes 1`), on PostgreSQL, the deliveries POSTs with a JSON body, in "
        "interleaved pairs (the order flips every pair); the rows *serve* and *separate* "
        "above are the median pair's.",
        table(
            [
                "pair",
                "serve deliveries/s",
                "separate deliveries/s",
                "serve / separate",
                "serve CPU ms",
                "separate CPU ms",
                "serve retried",
                "separate retried",
            ],
            rows,
        ),
        f"serve / separate: median {pairs['median']:g}, lowest {pairs['min']:g}, "
        f"highest {pairs['max']:g}." + _serve_cpu(r),
    ]


def _serve_cpu(r: dict[str, Any]) -> str:
    cpu, clean = r.get("serve_cpu_vs_separate"), r.get("serve_vs_separate_unretried")
    if not cpu or not clean:
        return ""
    out = (
        f" CPU per delivery (every process of each side), serve / separate: median "
        f"{cpu['median']:g}, {cpu['min']:g}-{cpu['max']:g}."
    )
    if clean["pairs"]:
        out += (
            f" The {clean['pairs']} pairs in which no delivery was retried: median "
            f"{clean['median']:g}, {clean['min']:g}-{clean['max']:g}."
        )
    return out + " (A retried delivery: shed when a process was not scheduled for 0.25 s.)"


def _throughput_targets(r: dict[str, Any]) -> str:
    if "targets" not in r:  # a result from before the targets of issue 15
        return (
            f"Target: PostgreSQL ≥ {pct(r['target']['postgresql_vs_ceiling'])} of the "
            f"ceiling: {met(r['target_met'])}."
        )
    t, ok = r["target"], r["targets"]
    ceiling = r["ceiling_requests_per_s"] or 0
    return (
        f"Targets (ceiling {ceiling:,.0f} requests/s): PostgreSQL one worker process ≥ "
        f"{pct(t['postgresql_x1_vs_ceiling'])}: {met(ok['postgresql_x1_vs_ceiling'])}; "
        f"all cores ({r['all_cores']}) ≥ {pct(t['postgresql_all_cores_vs_ceiling'])}: "
        f"{met(ok['postgresql_all_cores_vs_ceiling'])}; SQLite ≥ "
        f"{pct(t['sqlite_x1_vs_ceiling'])}: {met(ok['sqlite_x1_vs_ceiling'])}; serve ≥ "
        f"{t['serve_vs_separate_at_least']:g} of separate in every pair: "
        f"{met(ok['serve_vs_separate_at_least'])}."
    )


def _throughput_plot(ax: Any, r: dict[str, Any]) -> None:
    labels = ["ceiling", *r["runs"]]
    ceiling_rate = r["ceiling_requests_per_s"] or 0
    values = [ceiling_rate, *(v["deliveries_per_s"] for v in r["runs"].values())]
    bars(ax, labels, values, "deliveries (requests) / s")
    if ceiling_rate:
        for share, style in ((0.6, ":"), (0.8, "--")):
            label = f"{share:.0%} of ceiling"
            ax.axhline(ceiling_rate * share, color="#C44E52", ls=style, lw=1, label=label)
        ax.legend(fontsize=8)


def _cpu_plot(ax: Any, runs: dict[str, Any]) -> None:
    bottom = [0.0] * len(runs)
    for part in ("workers", "postgres", "receiver"):
        values = [v["cpu_ms_per_delivery"][part] for v in runs.values()]
        ax.bar(list(runs), values, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("CPU ms per delivery")
    ax.legend(fontsize=8)


def latency(res: Results, out: Path) -> str:
    r = res["latency"]
    rows = [
        [
            x["target_rate"],
            x["injected_rate"],
            x["holds"],
            x["unsent_when_injector_stopped"],
            x["p50_ms"],
            x["p90_ms"],
            x["p99_ms"],
            x["max_ms"],
            x["cpu_ms_per_delivery"]["worker"],
            x["cpu_ms_per_delivery"]["injector"],
            x["cpu_ms_per_delivery"]["postgres"],
            x.get("p99_ingest_ms"),
            x["slowest_ingest_ms"],
            x["samples"],
        ]
        for x in r["runs"]
    ]
    img = figure(out / "latency.png", lambda ax: _latency_plot(ax, r["runs"]))
    held = r.get("rate_held")
    return "\n\n".join(
        [
            "## 4. Latency",
            "An injector process stores events due now (through the store, one "
            "transaction every 10 ms); one worker process on PostgreSQL sends them; the "
            "receiver records *arrival - due*. Runs of "
            f"{r['seconds']:g} s; the first seconds (warm-up) are left out. A rate holds "
            "when the injector keeps it and at most "
            "100 ms worth of events are unsent when it stops. The injector's own commit "
            "times are shown too: a delivery cannot be claimed before the transaction "
            "that stores it commits, so a slow WAL sync on the machine shows up in both.",
            table(
                [
                    "rate/s",
                    "injected/s",
                    "holds",
                    "unsent at stop",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "max ms",
                    "worker CPU ms",
                    "injector CPU ms",
                    "PostgreSQL CPU ms",
                    "injector commit p99 ms",
                    "slowest commit ms",
                    "samples",
                ],
                rows,
            ),
            f"Target p99 < {r['target']['p99_ms']:g} ms at {r['target']['rate']:,}/s: "
            f"{met(r['target_met'])}; highest rate that holds with a p99 under 100 ms: "
            f"{'-' if held is None else f'{held:,}/s'}"
            + (
                ""
                if "highest_target_met" not in r
                else f" (target ≥ 2,000/s: {met(r['highest_target_met'])})"
            )
            + ".",
            img,
            *_tail(r.get("tail")),
        ]
    )


def _tail(t: dict[str, Any] | None) -> list[str]:
    """The traced run's breakdown by stage, when the results have one."""
    if not t or not t.get("traced"):
        return []
    slow = t["slowest_1pct"]
    rows = [
        [s, v["p50"], v["p90"], v["p99"], slow["mean_ms"].get(s), t["median_half_mean_ms"].get(s)]
        for s, v in t["stages_ms"].items()
    ]
    return [
        f"Where the time goes (traced run at 1,000/s, {t['traced']:,} deliveries; stages in "
        "order: commit, wait to be claimed (= notify + woke when the NOTIFY came first), "
        "claim, wait to be sent, send to arrival; then reply and flush, after the latency):",
        table(
            ["stage", "p50 ms", "p90 ms", "p99 ms", "mean, slowest 1 %", "mean, fastest half"],
            rows,
        ),
        f"Slowest 1 % with a GC pause or loop lag ≥ 5 ms on the way: "
        f"{pct(slow['with_a_stall'])} (fastest half: {pct(t['median_half_with_a_stall'])}). "
        f"GC: {t['gc']['count']} collections, {t['gc']['over_5ms']} over 5 ms, longest "
        f"{t['gc']['longest_ms']:g} ms; loop lag over 5 ms: {t['loop_lag']['over_5ms']} times, "
        f"longest {t['loop_lag']['longest_ms']:g} ms.",
    ]


def _at_1000(r: dict[str, Any]) -> dict[str, Any]:
    return next((x for x in r["runs"] if x["target_rate"] == 1000), r["runs"][0])


def _latency_plot(ax: Any, runs: list[dict[str, Any]]) -> None:
    for x in runs:
        cdf = x["cdf_ms"]
        ax.plot(cdf, [q / 100 for q in range(len(cdf))], label=f"{x['target_rate']}/s")
    ax.axvline(50, color="#C44E52", ls="--", lw=1, label="50 ms")
    ax.set_xscale("log")
    ax.set_xlabel("due → received, ms (log)")
    ax.set_ylabel("share of requests")
    ax.legend(fontsize=8)


def backlog(res: Results, out: Path) -> str:
    r = res["backlog"]
    rows = [
        [
            x["stored"],
            x["seed_seconds"],
            x["deliveries_table_mib"],
            x["deliveries_per_s"],
            _each(x),
            x["steady_per_s"],
            x["cpu_ms_per_delivery"]["workers"],
            x["cpu_ms_per_delivery"]["postgres"],
            x["rss_start_mib"],
            x["rss_max_mib"],
            x["rss_end_mib"],
        ]
        for x in (r["small"], r["large"])
    ]
    img = figure(out / "backlog.png", lambda ax: _rss_plot(ax, r))
    return "\n\n".join(
        [
            "## 5. Backlog",
            f"{r['fresh']:,} fresh deliveries drained by one worker with a small and a large "
            "backlog already stored (a third scheduled in the future, a third retrying in "
            "the future, a third delivered with their attempts), PostgreSQL only. The two "
            f"databases exist side by side; drains alternate between them ({r['repeats']} "
            "each, the best counts; the fresh rows are deleted and vacuumed after each).",
            table(
                [
                    "stored",
                    "seeding s",
                    "deliveries table MiB",
                    "deliveries/s (best)",
                    "each run",
                    "steady/s",
                    "worker CPU ms",
                    "PostgreSQL CPU ms",
                    "RSS start MiB",
                    "RSS max MiB",
                    "RSS end MiB",
                ],
                rows,
            ),
            f"Large vs small: {pct(r['large_vs_small'])} (target ≥ 80 %); RSS growth over a "
            f"run: {r['rss_growth_mib']:g} MiB (flat: ≤ {r['target']['rss_growth_mib_at_most']:g}"
            f" MiB): {met(r['target_met'])}.",
            img,
        ]
    )


def _rss_plot(ax: Any, r: dict[str, Any]) -> None:
    for key in ("small", "large"):
        x = r[key]
        ax.plot(
            [t for t, _ in x["rss_mib"]],
            [m for _, m in x["rss_mib"]],
            label=f"{x['stored']:,} stored",
        )
    ax.set_xlabel("seconds since due")
    ax.set_ylabel("worker RSS, MiB")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)


def fairness(res: Results, out: Path) -> str:
    r = res["fairness"]
    runs = {"healthy only": r["healthy_only"], "with bad destination": r["with_bad_destination"]}
    if "breaker_off" in r:
        runs["with bad destination, breaker off"] = r["breaker_off"]
    rows = [
        [
            k,
            v["deliveries_per_s"],
            _each(v),
            v["steady_per_s"],
            v["seconds"],
            v["bad_requests"],
            v["timeouts"],
            v.get("skipped", "-"),
            v["cpu_ms_per_delivery"]["workers"],
            v["cpu_ms_per_delivery"]["postgres"],
        ]
        for k, v in runs.items()
    ]
    off = r.get("breaker_off", {}).get("vs_without")
    spread = r.get("with_vs_without_spread")
    img = figure(
        out / "fairness.png",
        lambda ax: bars(
            ax, list(runs), [v["deliveries_per_s"] for v in runs.values()], "healthy deliveries/s"
        ),
        (5, 3.2),
    )
    return "\n\n".join(
        [
            "## 6. Fairness",
            f"{r['healthy_deliveries']:,} deliveries to four healthy postbacks, without and "
            f"with a fifth postback ({pct(r['bad_share'])} of all deliveries, interleaved) "
            f"whose destination never answers (timeout {r['total_timeout_s']:g} s); one "
            "worker on PostgreSQL.",
            table(
                [
                    "run",
                    "healthy deliveries/s (best)",
                    "each run, in order",
                    "steady/s",
                    "seconds",
                    "requests to the bad host",
                    "timeouts logged",
                    "skipped attempts",
                    "worker CPU ms",
                    "PostgreSQL CPU ms",
                ],
                rows,
            ),
            "With vs without (median of the rounds, the sides of each round run back to "
            f"back): {pct(r['with_vs_without'])} (rounds: "
            f"{', '.join(pct(x) for x in r.get('pair_ratios', []))}"
            + ("" if spread is None else f"; range {pct(spread['min'])} to {pct(spread['max'])}")
            + f"; best vs best: {pct(r.get('best_vs_best'))}); target ≥ "
            f"{pct(r.get('target', {}).get('with_vs_without_at_least', 0.9))}: "
            f"{met(r['target_met'])}."
            + (
                ""
                if off is None
                else f" With the circuit breaker off: {pct(off['median'])} "
                f"(range {pct(off['min'])} to {pct(off['max'])})."
            ),
            img,
        ]
    )


def ratelimit(res: Results, out: Path) -> str:
    r = res["ratelimit"]
    img = figure(out / "ratelimit.png", lambda ax: _rate_plot(ax, r))
    return "\n\n".join(
        [
            "## 7. Rate-limit accuracy",
            f"One postback limited to {r['limit_per_s']} requests/s, {r['workers']} worker "
            f"processes on PostgreSQL, counted over a {r['window_s']:g} s window at the "
            "receiver.",
            table(
                [
                    "limit/s",
                    "workers",
                    "window s",
                    "requests",
                    "rate/s",
                    "error",
                    "slowest second",
                    "busiest second",
                    "sent twice",
                ],
                [
                    [
                        r["limit_per_s"],
                        r["workers"],
                        r["window_s"],
                        r["requests_in_window"],
                        r["rate_per_s"],
                        f"{r['error']:+.2%}",
                        r["min_second"],
                        r["max_second"],
                        r["sent_twice"],
                    ]
                ],
            ),
            f"Target ±{r['target']['tolerance']:.0%}: {met(r['target_met'])}.",
            img,
        ]
    )


def _rate_plot(ax: Any, r: dict[str, Any]) -> None:
    counts = r["per_second"]
    limit = r["limit_per_s"]
    ax.bar(range(len(counts)), counts, color="#4C72B0", width=0.9)
    ax.axhspan(limit * 0.95, limit * 1.05, color="#55A868", alpha=0.2, label="limit ± 5 %")
    ax.set_xlabel("second of the window")
    ax.set_ylabel("requests")
    ax.legend(fontsize=8)


def template(res: Results) -> str:
    r = res["template"]
    rows = [
        [
            name,
            c["renders_per_second"]["postback"],
            c["renders_per_second"]["jinja2"],
            c["renders_per_second"].get("naive", "-"),
            f"{c['vs_jinja2']:g}x",
            f"{c['vs_naive']:g}x" if "vs_naive" in c else "-",
        ]
        for name, c in r["cases"].items()
    ]
    return "\n\n".join(
        [
            "## 8. Template rendering",
            "`benchmarks/template_bench.py`: renders per second, best of several repeats.",
            table(["case", "postback", "Jinja2", "naive re.sub", "vs Jinja2", "vs naive"], rows),
        ]
    )


# -- issue 15's seven targets, before and after -------------------------------------------
Figure = Callable[[Results], Any]


def _get(*path: str) -> Figure:
    def get(res: Results) -> Any:
        value: Any = res
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return get


def _cpu_vs_client(res: Results) -> float | None:
    worker = _get("throughput", "runs", "postgresql_x1", "cpu_ms_per_delivery", "workers")(res)
    client = _get("ceiling", "client_cpu_ms_per_request")(res)
    return round(worker / client, 2) if worker and client else None


def _p99_at_1000(res: Results) -> float | None:
    r = res.get("latency")
    return _at_1000(r)["p99_ms"] if r else None


def _highest_under_100(res: Results) -> str | None:
    r = res.get("latency")
    if not r:
        return None
    held = [x["target_rate"] for x in r["runs"] if x.get("holds", True) and x["p99_ms"] < 100]
    if held:
        return f"{max(held):,}/s"
    lowest = min(x["target_rate"] for x in r["runs"])
    return f"below {lowest:,}/s (none measured held)"


def _serve_pairs(res: Results) -> str | None:
    pairs = _get("throughput", "serve_vs_separate")(res)
    if not pairs:
        return None
    return f"{pairs['min']:g} lowest, {pairs['median']:g} median of {pairs['pairs']} pairs"


def _at_least(figure: Figure, floor: float) -> Figure:
    """Met for a figure no benchmark judges itself (it has no flag of its own)."""

    def ok(res: Results) -> bool | None:
        value = figure(res)
        return None if value is None else value >= floor

    return ok


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,g}" if isinstance(value, float | int) else str(value)


@dataclass(frozen=True)
class Target:
    """One row: the figure, the target in words, whether this run met it (the
    benchmark's own flag where it has one) and how to show the figure."""

    label: str
    figure: Figure
    target: str
    met: Figure
    show: Callable[[Any], str] = _shown


_INGEST_PG = _get("ingest", "runs", "postgresql", "events_per_s")
ISSUE_15 = [
    Target(
        "throughput, PostgreSQL, one worker process, of the ceiling",
        _get("throughput", "vs_ceiling", "postgresql_x1"), "≥ 60 %",
        _get("throughput", "targets", "postgresql_x1_vs_ceiling"), pct,
    ),
    Target(
        "throughput, PostgreSQL, all cores (`--processes 2`), of the ceiling",
        _get("throughput", "vs_ceiling", "postgresql_x2"), "≥ 80 %",
        _get("throughput", "targets", "postgresql_all_cores_vs_ceiling"), pct,
    ),
    Target(
        "worker CPU per delivery ÷ the bare client's CPU per request", _cpu_vs_client, "≤ 1.4",
        lambda res: None if (v := _cpu_vs_client(res)) is None else v <= 1.4,
    ),
    Target(
        "p99 due → sent at 1,000/s (ms)", _p99_at_1000, "< 50", _get("latency", "target_met")
    ),
    Target(
        "highest rate with p99 < 100 ms", _highest_under_100, "≥ 2,000/s",
        _get("latency", "highest_target_met"),
    ),
    Target(
        "fairness: healthy rate with a dead destination ÷ without",
        _get("fairness", "with_vs_without"), "≥ 0.95", _get("fairness", "target_met"),
    ),
    Target(
        "ingest, PostgreSQL, events/s (batches of 100, 3 postbacks each)", _INGEST_PG,
        "≥ 6,000", _at_least(_INGEST_PG, 6000),
    ),
    Target(
        "throughput, SQLite, one worker, of the ceiling",
        _get("throughput", "vs_ceiling", "sqlite_x1"), "≥ 50 %",
        _get("throughput", "targets", "sqlite_x1_vs_ceiling"), pct,
    ),
    Target(
        "`serve` ÷ `serve --no-workers` + one `worker`, PostgreSQL", _serve_pairs,
        "≥ 0.95 in every pair", _get("throughput", "targets", "serve_vs_separate_at_least"),
    ),
]  # fmt: skip


def issue_15(res: Results) -> str:
    """Each figure of issue 15's targets in this run and in ``results/before``."""
    before = res.get("before") or {}
    rows = []
    for t in ISSUE_15:
        then = t.figure(before) if before else None
        rows.append([t.label, t.show(then), t.show(t.figure(res)), t.target, met(t.met(res))])
    env = before.get("environment", {})
    return "\n\n".join(
        [
            "## Issue 15's targets, before and after",
            "*Before*: the code as found (`src` and `benchmarks` at commit "
            f"{env.get('commit', '?')}{_changes(env)}, run {env.get('date', '?')} on this "
            "machine, from `benchmarks/results/before/`); *after*: this run. Ratios are "
            "taken within each run, against the ceiling that run measured.",
            table(["figure", "before", "after", "target", "after: met"], rows),
        ]
    )


AS_FOUND = "2c65e59"  # the code before issue 15


def every_run(res: Results) -> str:
    """Issue 15's figures in every whole run kept (``earlier/``, ``before/`` and this
    one), oldest first: which targets a run meets moves with how fast the machine was."""
    runs = [*res.get("earlier", {}).values(), res.get("before") or {}, res]
    runs = sorted((r for r in runs if r.get("environment")), key=_started)
    if len(runs) < 3:
        return ""
    header = ["figure", "target", *(_run_label(r) for r in runs)]
    speed = ["bare client ceiling, requests/s (the machine's speed)", "-"]
    speed += [_shown(_get("ceiling", "requests_per_s")(r)) for r in runs]
    rows = [speed]
    for t in ISSUE_15:
        rows.append([t.label, t.target, *(_judged(t, r) for r in runs)])
    return "\n\n".join(
        [
            "### Issue 15's targets in every full run kept",
            "Each column is one `python -m benchmarks --mode full` on this machine, from "
            "`benchmarks/results/earlier/`, `before/` and this run; *as found* runs are the "
            f"code before issue 15 (commit {AS_FOUND}, its own benchmark code: no `serve` "
            "pairs, one latency step; they show the figures only, as its benchmarks judged "
            "older targets or none). A figure of a later run is marked where it missed.",
            table(header, rows),
        ]
    )


def _started(run: Results) -> str:
    return str(run["environment"].get("date", ""))


def _run_label(run: Results) -> str:
    env = run["environment"]
    found = " (as found)" if _as_found(run) else ""
    return f"{str(env.get('date', '?'))[5:16]} UTC, {env.get('commit', '?')}{found}"


def _judged(t: Target, run: Results) -> str:
    value = t.figure(run)
    shown = t.show(value)
    if value is None or _as_found(run) or t.met(run) is not False:
        return shown
    return f"**{shown}** missed"


def _as_found(run: Results) -> bool:
    return bool(run["environment"].get("commit") == AS_FOUND)


def _changes(env: dict[str, Any]) -> str:
    """What was changed in a run's benchmark code, as its ``environment.json`` records."""
    changed = env.get("benchmark_changes")
    return f", with {changed}" if changed else ""


def before_after(res: Results) -> str:
    """Figures taken with the code before the changes (``results/before``), side by side."""
    before = res.get("before")
    if not before:
        return ""
    rows = [row for name in ORDER for row in _compare(name, before.get(name), res.get(name))]
    env = before.get("environment", {})
    intro = (
        "The same benchmarks (same mode, same benchmark code) run on the delivery code "
        f"before the changes below (`src` at commit {env.get('src_commit', '?')}, run "
        f"{env.get('date', '?')}), from `benchmarks/results/before/`."
    )
    header = ["figure", "before", "after", "change"]
    return "## Before and after\n\n" + intro + "\n\n" + table(header, rows)


def _compare(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[list[Any]]:
    if not old or not new:
        return []
    out = []
    for label, get in COMPARED.get(name, ()):
        a, b = get(old), get(new)
        change = f"{(b / a - 1) * 100:+.0f} %" if a and b is not None else "-"
        out.append([f"{name}: {label}", a, b, change])
    return out


def _runs(key: str, field: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: r["runs"].get(key, {}).get(field)


COMPARED: dict[str, list[tuple[str, Callable[[dict[str, Any]], Any]]]] = {
    "ingest": [
        (f"{db} events/s", lambda r, db=db: r["runs"][db]["events_per_s"])
        for db in ("sqlite", "postgresql")
    ],
    "ceiling": [("requests/s (same code both times)", lambda r: r["requests_per_s"])],
    "throughput": [
        (f"{k} deliveries/s", _runs(k, "deliveries_per_s"))
        for k in ("sqlite_x1", "postgresql_x1", "postgresql_x2")
    ]
    + [
        (
            "postgresql_x1 worker CPU ms/delivery",
            lambda r: r["runs"]["postgresql_x1"]["cpu_ms_per_delivery"]["workers"],
        ),
        (
            "postgresql_x1 PostgreSQL CPU ms/delivery",
            lambda r: r["runs"]["postgresql_x1"]["cpu_ms_per_delivery"]["postgres"],
        ),
        ("postgresql_x2 vs ceiling", lambda r: r["vs_ceiling"].get("postgresql_x2")),
        (
            "serve vs separate (median pair)",
            lambda r: r.get("serve_vs_separate", {}).get("median"),
        ),
    ],
    "latency": [
        ("p50 ms at 1,000/s", lambda r: _at_1000(r)["p50_ms"]),
        ("p99 ms at 1,000/s", lambda r: _at_1000(r)["p99_ms"]),
    ],
    "backlog": [("large vs small", lambda r: r["large_vs_small"])],
    "fairness": [
        (
            "healthy deliveries/s with the bad destination",
            lambda r: r["with_bad_destination"]["deliveries_per_s"],
        ),
        ("with vs without", lambda r: r["with_vs_without"]),
    ],
    "ratelimit": [
        ("rate/s", lambda r: r["rate_per_s"]),
        ("workers' CPU seconds", lambda r: r["worker_cpu_seconds"]),
    ],
}


def notes() -> str:
    return "\n\n".join(p.read_text().strip() for p in sorted(NOTES.glob("*.md")))


SECTIONS: dict[str, Callable[[Results, Path], str]] = {
    "ingest": ingest,
    "ceiling": lambda res, _: ceiling(res),
    "throughput": throughput,
    "latency": latency,
    "backlog": backlog,
    "fairness": fairness,
    "ratelimit": ratelimit,
    "template": lambda res, _: template(res),
}


def write(results: Path, docs: Path) -> Path:
    """Write ``docs/performance.md`` and ``docs/performance/*.png``; return the page."""
    res = load(results)
    images = docs / "performance"
    parts = [header(res), summary(res), issue_15(res), every_run(res)]
    parts += [section(res, images) for name, section in SECTIONS.items() if name in res]
    parts += [before_after(res), notes()]
    page = docs / "performance.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n\n".join(p for p in parts if p) + "\n")
    return page
