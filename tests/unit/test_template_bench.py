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


def test_the_function_case_renders_the_same_bytes_in_both() -> None:
    for text, jinja_text, context, params in template_bench.WITH_FUNCTIONS.values():
        found = template_bench.function_renderers(text, jinja_text, context)
        outputs = {name: render(params) for name, render in found.items()}
        assert len(set(outputs.values())) == 1, outputs
        # every value of the case goes through a function
        assert all("|" in expression.split("}")[0] for expression in text.split("{")[1:])


def test_smoke_run_reports_every_renderer_and_ratio(tmp_path: Path) -> None:
    results = template_bench.run("smoke")
    assert set(results["cases"]) == {
        "seed_url",
        "json_body",
        "seed_url_raw_values",
        "functions_url",
    }
    for name, case in results["cases"].items():
        others = ("jinja2",) if name == "functions_url" else ("jinja2", "naive")
        rates = case["renders_per_second"]
        assert set(rates) == {"postback", *others}
        assert min(rates.values()) > 0
        # The ratios are the rates' (to the rounding of the reported rates).
        for other in others:
            assert case[f"vs_{other}"] == pytest.approx(rates["postback"] / rates[other], rel=0.01)
    written = template_bench.write(results, tmp_path / "template.json")
    assert json.loads(written.read_text())["mode"] == "smoke"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="smoke, quick, full"):
        template_bench.run("fast")
