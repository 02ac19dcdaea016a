"""Loading and checking the template vector files (the language's and the functions')."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from postback.template import TemplateError, compile_template


def load(name: str) -> list[dict[str, Any]]:
    """The cases of a vector file beside this module; each has exactly one expectation."""
    cases: list[dict[str, Any]] = json.loads(
        (Path(__file__).parent / name).read_text(encoding="utf-8")
    )["cases"]
    assert all(("expect" in c) + ("compile_error" in c) + ("render_error" in c) == 1 for c in cases)
    return cases


def check(case: dict[str, Any]) -> None:
    """Compile and render one case; its error or its output, byte for byte."""
    if "compile_error" in case:
        with pytest.raises(TemplateError) as caught:
            compile_template(case["template"], case["context"])
        assert caught.value.code == case["compile_error"]["code"]
        assert caught.value.position == case["compile_error"]["position"]
        return
    template = compile_template(case["template"], case["context"])
    if "render_error" in case:
        with pytest.raises(TemplateError) as caught:
            template.render(case["params"])
        assert caught.value.code == case["render_error"]["code"]
        return
    rendered = template.render(case["params"])
    assert rendered.encode("utf-8") == case["expect"].encode("utf-8")
