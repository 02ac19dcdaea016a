"""POSTBACK_OUTBOUND_PROXY: every postback, http or https (CONNECT), through a real HTTP
proxy (proxy.py, started here on loopback), the destination still resolved and checked by
the guard first; https verified against POSTBACK_CA_FILE (a CA made here with openssl).
Every test runs with both senders (POSTBACK_SENDER lean and aiohttp)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from ipaddress import ip_network
from pathlib import Path

import pytest

from postback.config import Settings, load
from postback.delivery.transport import SendResult, transport_for
from postback.domain.records import FailureReason, HttpMethod, RenderedRequest
from tests.apiclient import free_port
from tests.e2e.receiver import Receiver, receiver

LOCAL = (ip_network("127.0.0.0/8"),)


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


@pytest.fixture(params=["lean", "aiohttp"])
def sender(request: pytest.FixtureRequest) -> str:
    """The POSTBACK_SENDER under test."""
    return str(request.param)


def get(url: str) -> RenderedRequest:
    return RenderedRequest(HttpMethod.GET, url, (), None)


async def _send(
    settings: Settings, url: str, sender: str
) -> tuple[FailureReason | None, int | None]:
    transport = transport_for(replace(settings, sender=sender))
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
    proxy: Proxy, rec: Receiver, sender: str
) -> None:
    settings = Settings(allowed_networks=LOCAL, outbound_proxy=proxy.url, total_timeout=5)
    # A name (localhost, the one the system resolver may answer in tests): the proxy is
    # asked for the address the guard checked, and the Host header keeps the name.
    failure, status = await _send(settings, f"http://localhost:{rec.port}/via?a=1", sender)
    assert (failure, status) == (None, 200)
    [seen] = rec.seen
    assert seen.path_qs == "/via?a=1"
    assert seen.headers["Host"] == f"localhost:{rec.port}"
    assert seen.headers["Postback-Id"] == "dlv_proxy"
    assert await _log_has(proxy, f"GET 127.0.0.1:{rec.port}/via?a=1")


async def test_without_the_proxy_nothing_is_sent(rec: Receiver, sender: str) -> None:
    closed = free_port()  # nothing listens there
    settings = Settings(allowed_networks=LOCAL, outbound_proxy=f"http://127.0.0.1:{closed}")
    failure, _ = await _send(settings, rec.url("/direct"), sender)
    assert failure is FailureReason.CONNECTION
    assert rec.seen == []  # no way around the proxy


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_guard_checks_the_destination_before_asking_the_proxy(
    proxy: Proxy, rec: Receiver, host: str, scheme: str, sender: str
) -> None:
    # The proxy itself is on loopback (the operator's), but destinations there are not
    # allowed: refused before the proxy is asked for anything (for https, no CONNECT).
    settings = Settings(outbound_proxy=proxy.url)
    failure, _ = await _send(settings, f"{scheme}://{host}:{rec.port}/internal", sender)
    assert failure is FailureReason.BLOCKED_ADDRESS
    await asyncio.sleep(0.2)
    assert rec.seen == [] and proxy.requests() == []


# https through CONNECT: a throwaway certificate authority made here (openssl), a receiver
# with a certificate for the name localhost only, and POSTBACK_CA_FILE trusting that CA.


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(where: Path, name: str) -> Path:
    """A CA (key ``name.key``, certificate ``name.pem``, returned) valid for two days."""
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=Postback test CA {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=where,
    )  # fmt: skip
    return where / f"{name}.pem"


def make_server_cert(where: Path, ca: str, name: str) -> ssl.SSLContext:
    """A server context with a certificate for ``localhost`` (no IP address) from ``ca``."""
    (where / f"{name}.ext").write_text(
        "subjectAltName=DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=localhost",
        cwd=where,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-set_serial", str(secrets.randbits(63)), "-days", "2",
        "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        cwd=where,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(where / f"{name}.pem", where / f"{name}.key")
    return context


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext, ssl.SSLContext]:
    """The trusted CA's file, a server context it signed, and one another CA signed."""
    trusted = make_ca(tmp_path, "trusted")
    make_ca(tmp_path, "other")
    good = make_server_cert(tmp_path, "trusted", "good")
    foreign = make_server_cert(tmp_path, "other", "foreign")
    return trusted, good, foreign


async def _send_full(settings: Settings, url: str, sender: str) -> SendResult:
    transport = transport_for(replace(settings, sender=sender))
    try:
        return await transport.send(get(url), "dlv_tls")
    finally:
        await transport.close()


async def test_https_goes_through_connect_to_the_checked_address_with_the_name_verified(
    proxy: Proxy, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext], sender: str
) -> None:
    ca_file, good, _ = tls
    settings = load(
        {
            "POSTBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "POSTBACK_OUTBOUND_PROXY": proxy.url,
            "POSTBACK_CA_FILE": str(ca_file),
            "POSTBACK_TOTAL_TIMEOUT": "5",
        }
    )
    async with receiver(good) as rec:  # speaks TLS only
        sent = await _send_full(settings, f"https://localhost:{rec.port}/tls?a=1", sender)
        assert (sent.failure, sent.error) == (None, None)
        assert sent.reply is not None and sent.reply.status == 200
        [seen] = rec.seen
    assert seen.path_qs == "/tls?a=1"
    assert seen.headers["Host"] == f"localhost:{rec.port}"
    assert seen.headers["Postback-Id"] == "dlv_tls"
    # The proxy tunnelled to the address the guard checked, not to a name it resolved
    # itself; the certificate (for localhost only, no IP) was checked against the name.
    assert await _log_has(proxy, f"CONNECT 127.0.0.1:{rec.port}")
    assert not any("localhost" in line for line in proxy.requests())


@pytest.mark.parametrize("trust", ["trusted CA only", "system store"])
async def test_a_certificate_the_trust_store_does_not_vouch_for_is_not_delivered(
    proxy: Proxy, tls: tuple[Path, ssl.SSLContext, ssl.SSLContext], trust: str, sender: str
) -> None:
    ca_file, good, foreign = tls
    # Signed by another CA; and with the system store, even the test CA is unknown.
    server, ca = (foreign, ca_file) if trust == "trusted CA only" else (good, None)
    settings = Settings(
        allowed_networks=LOCAL, outbound_proxy=proxy.url, ca_file=ca, total_timeout=5
    )
    async with receiver(server) as rec:
        sent = await _send_full(settings, f"https://localhost:{rec.port}/tls", sender)
        assert rec.seen == []
    assert sent.reply is None and sent.failure is FailureReason.CONNECTION
    assert sent.error is not None
    # the checked address (what the client connected to, through the tunnel), and why
    assert sent.error == (
        f"the certificate of 127.0.0.1:{rec.port} could not be verified "
        "(unable to get local issuer certificate)"
    )
    assert "SSL" not in sent.error and "Error" not in sent.error and "(_ssl" not in sent.error
