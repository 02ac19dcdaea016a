"""Every case of template-functions-vectors.json, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit import vectors

CASES = vectors.load("template_functions_vectors.json")


def test_there_are_48_cases() -> None:
    assert len(CASES) == 48


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict[str, Any]) -> None:
    vectors.check(case)
