"""Every benchmark runs in smoke mode and writes its figures (into a tmp dir, so a test
run never rewrites the committed results), and the report is written from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks import __main__ as bench

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

Check = Callable[[dict[str, Any]], None]


def _template(r: dict[str, Any]) -> None:
    for case in r["cases"].values():
        assert all(v > 0 for v in case["renders_per_second"].values())


def _ceiling(r: dict[str, Any]) -> None:
    assert r["requests_per_s"] > 0 and r["failures"] == 0


def _ingest(r: dict[str, Any]) -> None:
    for run in r["runs"].values():
        assert run["events_per_s"] > 0 and run["errors"] == 0
        assert run["deliveries_stored"] >= run["events"] * r["fan_out"]
    for run in r["runs_with_conditions"].values():  # every condition holds: same fan-out
        assert run["events_per_s"] > 0 and run["errors"] == 0
        assert run["deliveries_stored"] >= run["events"] * r["fan_out"]
    assert set(r["conditions_ratio"]) == {"sqlite", "postgresql"}


def _throughput(r: dict[str, Any]) -> None:
    cores = {r["all_cores"]} if r["cores"] > 1 else set()
    assert set(r["runs"]) == {"sqlite_x1", "postgresql_x1", "serve", "separate"} | cores
    for run in r["runs"].values():
        assert run["delivered"] == run["deliveries"] > 0
        assert run["deliveries_per_s"] > 0 and run["sent_twice"] == 0
        assert run["cpu_ms_per_delivery"]["workers"] > 0
    assert all(v > 0 for v in r["vs_ceiling"].values()) and r["vs_ceiling"]
    assert r["serve_vs_separate"]["median"] > 0
    assert set(r["targets"]) == set(r["target"])


def _latency(r: dict[str, Any]) -> None:
    run = r["runs"][0]
    assert run["samples"] > 0 and run["received"] == run["events"]
    assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]


def _backlog(r: dict[str, Any]) -> None:
    assert r["large"]["stored"] > r["small"]["stored"]
    for run in (r["small"], r["large"]):
        assert run["delivered"] == run["deliveries"] and run["deliveries_per_s"] > 0
        assert run["rss_max_mib"] > 0
    assert r["large_vs_small"] > 0
    retention = r["retention"]
    assert retention["deliveries_per_s"] > 0 and retention["with_vs_without"] > 0
    assert all(n > 0 for n in retention["old_attempts_before"])


def _fairness(r: dict[str, Any]) -> None:
    assert r["healthy_only"]["deliveries_per_s"] > 0
    assert r["with_bad_destination"]["deliveries_per_s"] > 0
    assert r["with_bad_destination"]["bad_requests"] > 0
    assert r["with_vs_without"] > 0


def _ratelimit(r: dict[str, Any]) -> None:
    assert r["rate_per_s"] > 0 and r["sent_twice"] == 0
    assert len(r["per_second"]) >= 1


CHECKS: dict[str, Check] = {
    "template": _template,
    "ingest": _ingest,
    "ceiling": _ceiling,
    "throughput": _throughput,
    "latency": _latency,
    "backlog": _backlog,
    "fairness": _fairness,
    "ratelimit": _ratelimit,
}


@pytest.mark.timeout(240)
def test_every_benchmark_in_smoke_mode(
    tmp_path: Path, pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTBACK_BENCH_PG", pg_server)
    monkeypatch.setenv("POSTBACK_BENCH_RESULTS", str(tmp_path / "results"))
    bench.main(["--mode", "smoke", "--docs", str(tmp_path / "docs")])
    assert set(CHECKS) == set(bench.BENCHMARKS)
    for name, check in CHECKS.items():
        figures = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert figures["mode"] == "smoke", name
        check(figures)
    page = (tmp_path / "docs" / "performance.md").read_text()
    assert "## 3. Throughput" in page and "## 7. Rate-limit accuracy" in page
    targets = page.split("## Issue 15's targets, before and after")[1].split("\n## ")[0]
    assert "| throughput, PostgreSQL, one worker process, of the ceiling | - | " in targets
    assert targets.count(" | ≥ ") + targets.count(" | ≤ ") + targets.count(" | < ") == 9
    assert (tmp_path / "docs" / "performance" / "throughput.png").stat().st_size > 0


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--mode", "fast", "--no-report"])
