"""`postback serve --demo` and the curl commands it prints deliver a first postback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.apiclient import free_port


@pytest.fixture(autouse=True)
def _curl() -> None:
    """The printed commands need curl: `make test` installs it; under CI=true a missing
    curl fails the test instead of skipping it."""
    if shutil.which("curl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("curl is required under CI=true (make test installs it with apt-get)")
        pytest.skip("needs curl")


def _printed_commands(proc: subprocess.Popen[str]) -> list[str]:
    """Read stdout until the server is up; return the shell commands it printed."""
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("curl -s http") and "/inbox/" in line:
            break
    text = "".join(lines)
    start = text.index("curl -s -X POST")
    return [c.strip() for c in text[start:].replace("\\\n", " ").splitlines() if c.strip()]


def _run(command: str) -> str:
    out = subprocess.run(
        ["bash", "-c", command], check=False, capture_output=True, text=True, timeout=20
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_printed_curl_gets_a_postback_delivered(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "POSTBACK_DATA_DIR": str(tmp_path)}
    env.pop("POSTBACK_ADMIN_KEY", None)
    cmd = [sys.executable, "-m", "postback", "serve", "--demo", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        post, deliveries, inbox = _printed_commands(proc)
        for _ in range(100):
            try:
                _run(f"curl -sf http://127.0.0.1:{port}/healthz")
                break
            except AssertionError:
                time.sleep(0.1)
        assert json.loads(_run(post))["deliveries"] == 1
        for _ in range(100):
            [item] = json.loads(_run(deliveries))["items"]
            if item["status"] == "delivered":
                break
            time.sleep(0.1)
        assert item["status"] == "delivered"
        [received] = json.loads(_run(inbox))
        assert "action=1000.2000.3000" in received["query"]
        assert dict(received["headers"])["postback-id"] == item["id"]
    finally:
        proc.terminate()
        proc.wait(20)
