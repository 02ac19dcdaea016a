"""POSTBACK_OUTBOUND_PROXY: every postback through a real HTTP proxy (proxy.py, started
here on loopback), the destination still resolved and checked by the guard first."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path

import pytest

from postback.config import Settings
from postback.delivery.transport import AioHttpTransport
from postback.domain.records import FailureReason, HttpMethod, RenderedRequest
from tests.e2e.receiver import Receiver, receiver

LOCAL = (ip_network("127.0.0.0/8"),)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proxy:
    url: str
    log: Path

    def requests(self) -> list[str]:
        """The access-log lines: one per request the proxy forwarded."""
        return [x for x in self.log.read_text().splitlines() if "access_log" in x]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    port = free_port()
    log = tmp_path / "proxy.log"
    args = ["--hostname", "127.0.0.1", "--port", str(port), "--num-workers", "1"]
    args += ["--num-acceptors", "1", "--log-file", str(log)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < end, "proxy did not start"
                time.sleep(0.1)
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
async def rec() -> AsyncIterator[Receiver]:
    async with receiver() as r:
        yield r


def get(url: str) -> RenderedRequest:
    return RenderedRequest(HttpMethod.GET, url, (), None)


async def _send(settings: Settings, url: str) -> tuple[FailureReason | None, int | None]:
    transport = AioHttpTransport(settings)
    try:
        sent = await transport.send(get(url), "dlv_proxy")
    finally:
        await transport.close()
    return sent.failure, None if sent.reply is None else sent.reply.status


async def _log_has(proxy: Proxy, text: str) -> bool:
    for _ in range(20):  # the access log is written as the proxy finishes the request
        if any(text in line for line in proxy.requests()):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_postbacks_go_through_the_proxy_to_the_checked_address(
    proxy: Proxy, rec: Receiver
) -> None:
    settings = Settings(allowed_networks=LOCAL, outbound_proxy=proxy.url, total_timeout=5)
    # A name (localhost, the one the system resolver may answer in tests): the proxy is
    # asked for the address the guard checked, and the Host header keeps the name.
    failure, status = await _send(settings, f"http://localhost:{rec.port}/via?a=1")
    assert (failure, status) == (None, 200)
    [seen] = rec.seen
    assert seen.path_qs == "/via?a=1"
    assert seen.headers["Host"] == f"localhost:{rec.port}"
    assert seen.headers["Postback-Id"] == "dlv_proxy"
    assert await _log_has(proxy, f"GET 127.0.0.1:{rec.port}/via?a=1")


async def test_without_the_proxy_nothing_is_sent(rec: Receiver) -> None:
    closed = free_port()  # nothing listens there
    settings = Settings(allowed_networks=LOCAL, outbound_proxy=f"http://127.0.0.1:{closed}")
    failure, _ = await _send(settings, rec.url("/direct"))
    assert failure is FailureReason.CONNECTION
    assert rec.seen == []  # no way around the proxy


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_guard_checks_the_destination_before_asking_the_proxy(
    proxy: Proxy, rec: Receiver, host: str
) -> None:
    # The proxy itself is on loopback (the operator's), but destinations there are not
    # allowed: refused before the proxy is asked for anything.
    settings = Settings(outbound_proxy=proxy.url)
    failure, _ = await _send(settings, f"http://{host}:{rec.port}/internal")
    assert failure is FailureReason.BLOCKED_ADDRESS
    await asyncio.sleep(0.2)
    assert rec.seen == [] and proxy.requests() == []
