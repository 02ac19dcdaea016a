"""Every case of template-vectors.json, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from postback.template import TemplateError, compile_template

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "template_vectors.json").read_text(encoding="utf-8")
)["cases"]


def test_there_are_44_cases() -> None:
    assert len(CASES) == 44
    assert all(("expect" in c) + ("compile_error" in c) + ("render_error" in c) == 1 for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict[str, Any]) -> None:
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
