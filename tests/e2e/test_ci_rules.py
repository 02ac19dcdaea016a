"""The CI rules hold: a missing curl fails the demo test under CI=true, and a pytest run
that collects nothing fails `make`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pytest(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_demo_test_fails_without_curl_under_ci(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "CI": "true"}  # an empty PATH: no curl
    found = _pytest(["tests/e2e/test_demo.py"], env)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "curl is required under CI=true" in found.stdout
    env["CI"] = "false"
    found = _pytest(["tests/e2e/test_demo.py", "-rs"], env)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "needs curl" in found.stdout


def test_make_fails_when_pytest_collects_nothing() -> None:
    found = subprocess.run(
        ["make", "-s", "pytest", "PYTEST_ARGS=tests/unit/test_retry.py -k no_test_has_this_name"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert found.returncode != 0
    assert "pytest collected no tests: that is a failure" in found.stderr
