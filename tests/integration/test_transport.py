"""Both transports (POSTBACK_SENDER: lean and aiohttp) against real servers on 127.0.0.1,
started by the tests: every test runs once with each."""

from __future__ import annotations

import asyncio
import inspect
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import ip_network

import pytest
from aiohttp import web

from postback import __version__
from postback.config import Settings
from postback.delivery.retry import is_retryable
from postback.delivery.transport import (
    AddressBlocked,
    AioHttpTransport,
    GuardedResolver,
    LeanTransport,
    SendResult,
    Transport,
    _dns_failure,
    retry_after,
)
from postback.domain.records import FailureReason, HttpMethod, RenderedRequest, Reply
from postback.testing import LocalResolver
from tests.apiclient import free_port
from tests.unit.test_guard import LOOPBACK_SPELLINGS

LOCAL = (ip_network("127.0.0.0/8"),)
SETTINGS = Settings(
    allowed_networks=LOCAL, connect_timeout=0.5, total_timeout=0.5, max_reply_bytes=1024
)


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: object


@dataclass
class Receiver:
    base: str = ""
    seen: list[Seen] = field(default_factory=list)


RECEIVER = web.AppKey("receiver", Receiver)


async def _handle(request: web.Request) -> web.StreamResponse:
    receiver = request.app[RECEIVER]
    body = await request.read()
    peer = request.transport.get_extra_info("peername") if request.transport else None
    seen = Seen(request.method, request.raw_path, list(request.headers.items()), body, peer)
    receiver.seen.append(seen)
    return await ROUTES.get(request.path, _ok)(request)


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="OK")


async def _slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def _big(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"x" * 5000 + b"END")


def _status(status: int, **headers: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=f"status {status}", headers=headers)

    return handler


ROUTES: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    "/500": _status(500),
    "/429": _status(429, **{"Retry-After": "120"}),
    "/410": _status(410),
    "/404": _status(404),
    "/302": _status(302, Location="/moved"),
    "/slow": _slow,
    "/big": _big,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    app[RECEIVER] = received = Receiver()
    app.router.add_route("*", "/{tail:.*}", _handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    received.base = f"http://127.0.0.1:{port}"
    yield received
    await runner.cleanup()


Sender = type[AioHttpTransport] | type[LeanTransport]


@pytest.fixture(params=[LeanTransport, AioHttpTransport], ids=["lean", "aiohttp"])
def sender(request: pytest.FixtureRequest) -> Sender:
    """The transport class under test."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def transport(sender: Sender) -> AsyncIterator[Transport]:
    made = sender(SETTINGS, LocalResolver())
    yield made
    await made.close()


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def raw_server(handler: RawHandler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"this is not HTTP at all\r\n\r\n")
    await writer.drain()
    writer.close()


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # linger 0: the peer gets a RST


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def get(url: str, headers: tuple[tuple[str, str], ...] = ()) -> RenderedRequest:
    return RenderedRequest(method=HttpMethod.GET, url=url, headers=headers, body=None)


def expect_failure(result: SendResult, reason: FailureReason) -> None:
    assert result.reply is None, result
    assert result.failure is reason, result
    assert result.error


def expect_reply(result: SendResult, status: int) -> Reply:
    assert result.failure is None, result
    assert result.reply is not None
    assert result.reply.status == status
    return result.reply


def test_both_transports_are_transports(sender: Sender) -> None:
    # Every method the protocol names, with the same signature, awaitable like it.
    members = [m for m in vars(Transport) if not m.startswith("_")]
    assert set(members) >= {"send", "close"}
    for name in members:
        wanted, found = getattr(Transport, name), getattr(sender, name)
        assert inspect.signature(found) == inspect.signature(wanted), name
        assert inspect.iscoroutinefunction(found) == inspect.iscoroutinefunction(wanted), name


async def test_success_sends_the_stored_request_as_is(
    receiver: Receiver, transport: Transport
) -> None:
    request = RenderedRequest(
        method=HttpMethod.POST,
        url=f"{receiver.base}/cb/%7Bx%7D?oid=A%2F1&name=a+b&sub=%e2%82%ac",
        headers=(("Content-Type", "application/json; charset=utf-8"), ("X-Multi", "1")),
        body='{"oid": "A/1", "amount": "9.99", "name": "café"}',
    )
    result = await transport.send(request, "dlv_123")
    reply = expect_reply(result, 200)
    assert reply.body == b"OK"
    assert not reply.truncated
    assert result.duration_ms > 0
    assert result.started_at.tzinfo is not None
    [seen] = receiver.seen
    assert seen.method == "POST"
    assert seen.raw_path == "/cb/%7Bx%7D?oid=A%2F1&name=a+b&sub=%e2%82%ac"
    headers = dict(seen.headers)
    assert headers["Postback-Id"] == "dlv_123"
    assert headers["User-Agent"] == f"Postback/{__version__}"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Multi"] == "1"
    assert seen.body == '{"oid": "A/1", "amount": "9.99", "name": "café"}'.encode()


async def test_get_sends_no_body_and_no_invented_content_type(
    receiver: Receiver, transport: Transport
) -> None:
    await transport.send(get(f"{receiver.base}/ok?a=1"), "dlv_1")
    [seen] = receiver.seen
    assert seen.method == "GET"
    assert seen.body == b""
    assert "Content-Type" not in dict(seen.headers)


async def test_post_without_content_type_gets_none_added(
    receiver: Receiver, transport: Transport
) -> None:
    request = RenderedRequest(HttpMethod.POST, f"{receiver.base}/ok", (), "a=1&b=2")
    expect_reply(await transport.send(request, "dlv_1"), 200)
    [seen] = receiver.seen
    assert seen.body == b"a=1&b=2"
    assert "Content-Type" not in dict(seen.headers)


async def test_postback_id_cannot_be_overridden_but_user_agent_can(
    receiver: Receiver, transport: Transport
) -> None:
    headers = (("postback-id", "forged"), ("User-Agent", "Partner/2"))
    await transport.send(get(f"{receiver.base}/ok", headers), "dlv_real")
    names = [(k.lower(), v) for k, v in receiver.seen[0].headers]
    assert ("postback-id", "dlv_real") in names
    assert ("postback-id", "forged") not in names
    assert ("user-agent", "Partner/2") in names


async def test_non_ascii_url_is_encoded(receiver: Receiver, transport: Transport) -> None:
    expect_reply(await transport.send(get(f"{receiver.base}/ok?name=café"), "dlv_1"), 200)
    assert receiver.seen[0].raw_path == "/ok?name=caf%C3%A9"


async def test_connections_are_kept_alive(receiver: Receiver, transport: Transport) -> None:
    for n in range(3):
        expect_reply(await transport.send(get(f"{receiver.base}/ok"), f"dlv_{n}"), 200)
    assert len(receiver.seen) == 3
    assert len({s.peer for s in receiver.seen}) == 1  # one connection, three requests


@pytest.mark.parametrize("status", [500, 410, 404])
async def test_error_statuses_are_replies(
    receiver: Receiver, transport: Transport, status: int
) -> None:
    reply = expect_reply(await transport.send(get(f"{receiver.base}/{status}"), "d"), status)
    assert reply.body == f"status {status}".encode()


async def test_retry_after_is_surfaced(receiver: Receiver, transport: Transport) -> None:
    reply = expect_reply(await transport.send(get(f"{receiver.base}/429"), "d"), 429)
    assert retry_after(reply) == "120"
    assert retry_after(Reply(200, (), b"")) is None
    assert retry_after(None) is None


async def test_redirects_are_not_followed(receiver: Receiver, transport: Transport) -> None:
    reply = expect_reply(await transport.send(get(f"{receiver.base}/302"), "d"), 302)
    assert ("Location", "/moved") in reply.headers
    assert [s.raw_path for s in receiver.seen] == ["/302"]


async def test_slow_reply_times_out(receiver: Receiver, transport: Transport) -> None:
    result = await transport.send(get(f"{receiver.base}/slow"), "d")
    expect_failure(result, FailureReason.TIMEOUT)
    assert 400 < result.duration_ms < 3000
    assert "/slow" not in (result.error or "")


async def test_reply_body_is_capped(receiver: Receiver, transport: Transport) -> None:
    reply = expect_reply(await transport.send(get(f"{receiver.base}/big"), "d"), 200)
    assert reply.truncated
    assert reply.body == b"x" * 1024
    again = expect_reply(await transport.send(get(f"{receiver.base}/ok"), "d2"), 200)
    assert again.body == b"OK"  # the cut connection was not reused


async def test_body_exactly_at_the_cap_is_not_truncated(receiver: Receiver, sender: Sender) -> None:
    made = sender(Settings(allowed_networks=LOCAL, max_reply_bytes=5003))
    try:
        reply = expect_reply(await made.send(get(f"{receiver.base}/big"), "d"), 200)
    finally:
        await made.close()
    assert not reply.truncated
    assert reply.body.endswith(b"END")


async def test_garbage_reply_is_a_protocol_failure(transport: Transport) -> None:
    server, base = await raw_server(_garbage)
    async with server:
        expect_failure(await transport.send(get(f"{base}/x"), "d"), FailureReason.PROTOCOL)


async def test_connection_reset(transport: Transport) -> None:
    server, base = await raw_server(_reset)
    async with server:
        result = await transport.send(get(f"{base}/x"), "d")
    assert result.failure in {FailureReason.CONNECTION, FailureReason.PROTOCOL}, result
    assert result.reply is None


async def test_server_that_hangs_up_at_once(transport: Transport) -> None:
    server, base = await raw_server(_hang_up)
    async with server:
        result = await transport.send(get(f"{base}/x"), "d")
    assert result.failure in {FailureReason.CONNECTION, FailureReason.PROTOCOL}, result


async def test_refused_port_is_a_connection_failure(transport: Transport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await transport.send(get(f"http://127.0.0.1:{port}/x"), "d")
    expect_failure(result, FailureReason.CONNECTION)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_blocked_addresses_are_never_contacted(
    receiver: Receiver, host: str, sender: Sender
) -> None:
    port = receiver.base.rsplit(":", 1)[1]
    made = sender(Settings(connect_timeout=0.5, total_timeout=0.5), LocalResolver())
    try:
        result = await made.send(get(f"http://{host}:{port}/ok?token=s3cret"), "d")
    finally:
        await made.close()
    expect_failure(result, FailureReason.BLOCKED_ADDRESS)
    assert "s3cret" not in (result.error or "")
    assert receiver.seen == []


async def test_allowed_name_resolves_and_connects(receiver: Receiver, transport: Transport) -> None:
    port = receiver.base.rsplit(":", 1)[1]
    expect_reply(await transport.send(get(f"http://localhost:{port}/ok"), "d"), 200)


async def test_unknown_host_is_a_dns_failure(sender: Sender) -> None:
    resolver = LocalResolver()
    transport = sender(SETTINGS, resolver)
    try:
        result = await transport.send(get("http://no-such-host.invalid/cb?key=s3cret"), "d")
    finally:
        await transport.close()
    expect_failure(result, FailureReason.DNS)
    assert "s3cret" not in (result.error or "")
    assert resolver.asked == ["no-such-host.invalid"]  # the injected one, not the system's


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/file",
        "javascript:alert(1)",
        "not a url",
        "http:///no-host",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1/a\r\nX-Injected: 1",
        "",
    ],
)
async def test_invalid_urls_are_refused(transport: Transport, url: str) -> None:
    expect_failure(await transport.send(get(url), "d"), FailureReason.INVALID_URL)


@pytest.mark.parametrize(
    "header",
    [
        ("X-Evil", "a\r\nX-Injected: 1"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil", "a\x00b"),
        ("X-Evil\r\nX-Injected", "1"),
        ("Bad Name", "1"),
        ("", "1"),
    ],
)
async def test_header_injection_is_refused_without_sending(
    receiver: Receiver, transport: Transport, header: tuple[str, str]
) -> None:
    result = await transport.send(get(f"{receiver.base}/ok", (header,)), "d")
    expect_failure(result, FailureReason.INVALID_REQUEST)
    assert receiver.seen == []


@pytest.mark.parametrize(
    ("header", "body"),
    [
        (("X-A", "a\x01b"), None),  # refused by aiohttp itself, not by the check above
        (("X-A", "a\x7fb"), None),
        (("X-A", "1"), "lone \ud800 surrogate"),
    ],
)
async def test_what_the_client_refuses_is_final_at_the_first_attempt(
    receiver: Receiver, transport: Transport, header: tuple[str, str], body: str | None
) -> None:
    method = HttpMethod.GET if body is None else HttpMethod.POST
    request = RenderedRequest(method, f"{receiver.base}/ok", (header,), body)
    result = await transport.send(request, "d")
    expect_failure(result, FailureReason.INVALID_REQUEST)
    assert not is_retryable(result.failure, None)  # the same request fails the same way
    assert receiver.seen == []
    plain(result)


async def test_close_is_safe_twice_and_before_use(sender: Sender) -> None:
    made = sender(SETTINGS)
    await made.close()
    await made.close()


async def test_guarded_resolver_keeps_allowed_addresses_only() -> None:
    allowed = GuardedResolver(LOCAL)
    found = await allowed.resolve("localhost", 80, socket.AF_INET)
    assert [r["host"] for r in found] == ["127.0.0.1"]
    with pytest.raises(AddressBlocked, match=r"localhost resolves to 127\.0\.0\.1"):
        await GuardedResolver(()).resolve("localhost", 80, socket.AF_INET)
    await allowed.close()


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), FailureReason.DNS),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), FailureReason.CONNECTION),
        (AddressBlocked("x resolves to 10.0.0.1"), FailureReason.BLOCKED_ADDRESS),
    ],
)
def test_resolution_errors_are_named(error: OSError, reason: FailureReason) -> None:
    assert _dns_failure(error)[0] is reason


# -- every failure reason reads as a sentence -------------------------------------------

UNREADABLE = ("Errno", "<", ">", "Error(", "Connection(", "ConnectionKey", "ClientConnector")


def plain(result: SendResult) -> str:
    """The error text, checked to be a sentence: no repr of a client object, no errno."""
    text = result.error or ""
    assert text and not any(mark in text for mark in UNREADABLE), text
    assert "s3cret" not in text, text
    return text


async def test_failure_texts_are_plain_sentences(
    receiver: Receiver, transport: Transport, sender: Sender
) -> None:
    port = free_port()
    refused = await transport.send(get(f"http://127.0.0.1:{port}/x?key=s3cret"), "d")
    assert plain(refused) == f"cannot connect to 127.0.0.1:{port}: the connection was refused"
    server, base = await raw_server(_reset)
    async with server:
        reset = await transport.send(get(f"{base}/x?key=s3cret"), "d")
    assert plain(reset) in {
        "the connection broke: the connection was reset",
        "the server closed the connection without replying",
    }
    server, base = await raw_server(_garbage)
    async with server:
        garbage = await transport.send(get(f"{base}/x?key=s3cret"), "d")
    assert plain(garbage) == "the reply is not valid HTTP (bad status line)"
    server, base = await raw_server(_hang_up)
    async with server:
        hung_up = await transport.send(get(f"{base}/x?key=s3cret"), "d")
    assert plain(hung_up) in {
        "the connection broke: the connection was reset",
        "the server closed the connection without replying",
    }
    slow = await transport.send(get(f"{receiver.base}/slow?key=s3cret"), "d")
    assert plain(slow) == "no complete reply within 0.5 s"
    unknown = await transport.send(get("http://no-such-host.invalid/x?key=s3cret"), "d")
    assert plain(unknown) == (
        "the host name no-such-host.invalid does not exist (DNS: name or service not known)"
    )
    blocked = sender(Settings(total_timeout=0.5), LocalResolver())
    try:
        literal = await blocked.send(get(f"{receiver.base}/x?key=s3cret"), "d")
        named = await blocked.send(get(f"http://localhost:{port}/x?key=s3cret"), "d")
    finally:
        await blocked.close()
    assert plain(literal) == "127.0.0.1 is not an allowed address"
    assert plain(named).startswith("localhost resolves to "), named.error
    assert plain(named).endswith(": not an allowed address"), named.error
    header = await transport.send(get(f"{receiver.base}/x", (("X-A", "1\r\n2"),)), "d")
    assert plain(header) == "the value of header X-A contains a line break or NUL"
    assert [seen.raw_path for seen in receiver.seen] == ["/slow?key=s3cret"]


# -- the SSRF table: spellings of loopback, none may reach the receiver -------------------

SSRF_HOSTS = [
    "127.0.0.1",
    *LOOPBACK_SPELLINGS,
    "0x7f000001",  # and in other cases
    "0X7F.0X0.0X0.0X1",
    "127.0.0.1.",
    "%31%32%37.0.0.1",
    "127.0.0.%31",
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # full-width digits
    "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11",  # and full-width dots
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:127.0.0.1]",
    "[64:ff9b::127.0.0.1]",  # NAT64
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::1]",  # 6to4
    "[::127.0.0.1]",  # IPv4-compatible (deprecated)
    "[fe80::1%25lo]",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "0",
    "0.0.0.0",
    "[::]",
]
SSRF_URLS = [
    *(f"http://{host}:{{port}}/x?key=s3cret" for host in SSRF_HOSTS),
    "http://good.example@127.0.0.1:{port}/x",
    "http://good.example:pw@127.0.0.1:{port}/x",
    "http://127.0.0.1:{port}#@good.example/",
    "http://127.0.0.1:{port}?@good.example/",
    "http://127.0.0.1:{port}\\@good.example/",
    "HTTP://127.0.0.1:{port}/x",
    "http://good.example@2130706433:{port}/x",
]


@pytest.mark.parametrize("url", SSRF_URLS)
async def test_no_spelling_of_loopback_reaches_it(
    receiver: Receiver, url: str, sender: Sender
) -> None:
    port = receiver.base.rsplit(":", 1)[1]
    resolver = LocalResolver()
    made = sender(Settings(connect_timeout=0.5, total_timeout=0.5), resolver)
    try:
        result = await made.send(get(url.format(port=port)), "d")
    finally:
        await made.close()
    assert receiver.seen == []
    assert result.reply is None, result
    assert result.failure in {FailureReason.BLOCKED_ADDRESS, FailureReason.INVALID_URL}, result
    plain(result)
