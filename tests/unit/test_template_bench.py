"""The template benchmark runs, and its three renderers agree byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import template_bench


def test_the_three_renderers_produce_the_same_bytes() -> None:
    for text, context, params in template_bench.CASES.values():
        outputs = {name: r(params) for name, r in template_bench.renderers(text, context).items()}
        assert len(set(outputs.values())) == 1, outputs


def test_smoke_run_reports_every_renderer_and_ratio(tmp_path: Path) -> None:
    results = template_bench.run("smoke")
    assert set(results["cases"]) == {"seed_url", "json_body", "seed_url_raw_values"}
    for case in results["cases"].values():
        rates = case["renders_per_second"]
        assert set(rates) == {"postback", "jinja2", "naive"}
        assert min(rates.values()) > 0
        # The ratios are the rates' (to the rounding of the reported rates).
        for other in ("jinja2", "naive"):
            assert case[f"vs_{other}"] == pytest.approx(rates["postback"] / rates[other], rel=0.01)
    written = template_bench.write(results, tmp_path / "template.json")
    assert json.loads(written.read_text())["mode"] == "smoke"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="smoke, quick, full"):
        template_bench.run("fast")


def test_the_renderer_clears_its_targets() -> None:
    """The benchmark's claim (TARGETS: 2x Jinja2, 3x naive), held in smoke mode; the
    best of three runs per case, as the machine may be busy with other work."""
    best: dict[tuple[str, str], float] = {}
    for _ in range(3):
        for name, case in template_bench.run("smoke")["cases"].items():
            for key in template_bench.TARGETS:
                best[name, key] = max(best.get((name, key), 0.0), case[key])
        if all(best[k] >= template_bench.TARGETS[k[1]] for k in best):
            break
    short = {k: v for k, v in best.items() if v < template_bench.TARGETS[k[1]]}
    assert short == {}, f"below target {template_bench.TARGETS}: {short}"
