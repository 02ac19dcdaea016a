"""The report's table of issue 15's figures in every kept run, from the committed results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks import common, report


def _section(res: report.Results) -> list[str]:
    return [line for line in report.every_run(res).splitlines() if line.startswith("|")]


def test_every_kept_run_is_a_column_oldest_first() -> None:
    res = report.load(common.RESULTS)
    runs = [*res["earlier"].values(), res["before"], res]
    dates = sorted(str(r["environment"]["date"]) for r in runs)
    header, _, speed, *rows = _section(res)
    columns = _cells(header)[2:]
    assert [c.split(" UTC")[0] for c in columns] == [d[5:16] for d in dates]
    assert sum("(as found)" in c for c in columns) >= 2
    assert speed.startswith("| bare client ceiling")
    assert len(rows) == len(report.ISSUE_15)


def _fairness_of_this_run(results: Path) -> str:
    res = report.load(results)
    header, _, _, *rows = _section(res)
    column = _cells(header).index(report._run_label(res))
    return _cells(next(r for r in rows if r.startswith("| fairness")))[column]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split(" | ")]


def test_a_run_that_missed_a_target_is_marked(tmp_path: Path) -> None:
    shutil.copytree(common.RESULTS, tmp_path / "results")
    fairness = tmp_path / "results" / "fairness.json"
    figures = json.loads(fairness.read_text())
    figures.update(with_vs_without=0.5, target_met=False)
    fairness.write_text(json.dumps(figures))
    assert _fairness_of_this_run(tmp_path / "results") == "**0.5** missed"
    figures.update(with_vs_without=0.99, target_met=True)
    fairness.write_text(json.dumps(figures))
    assert _fairness_of_this_run(tmp_path / "results") == "0.99"
