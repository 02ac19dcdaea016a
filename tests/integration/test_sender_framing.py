"""How replies are framed and connections reused, for both senders, against raw servers on
127.0.0.1 that write exactly the bytes each test needs: chunked and close-delimited
bodies, interim 1xx replies, ``Connection: close``, bodies cut short, a kept-alive
connection the server drops while idle, the per-host connection limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import ip_network

import pytest

from postback.config import Settings
from postback.delivery.transport import AioHttpTransport, LeanTransport, SendResult, Transport
from postback.domain.records import FailureReason, HttpMethod, RenderedRequest
from postback.testing import LocalResolver

LOCAL = (ip_network("127.0.0.0/8"),)
Sender = type[AioHttpTransport] | type[LeanTransport]
Reply = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


@dataclass
class Server:
    """A raw HTTP server: reads each request head (and a Content-Length body), replies
    with ``reply``; counts connections and requests."""

    reply: Reply
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    base: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                if length:
                    await reader.readexactly(length)
                self.requests.append(head)
                await self.reply(self, reader, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture(params=[LeanTransport, AioHttpTransport], ids=["lean", "aiohttp"])
def sender(request: pytest.FixtureRequest) -> Sender:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Reply], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> Server:
        found = Server(reply)
        server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
        servers.append(server)
        found.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return found

    yield start
    for server in servers:
        server.close()


def settings(**changes: object) -> Settings:
    values: dict[str, object] = {
        "allowed_networks": LOCAL,
        "connect_timeout": 1.0,
        "total_timeout": 1.0,
        "max_reply_bytes": 100,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


async def send_all(transport: Transport, *requests: RenderedRequest) -> list[SendResult]:
    try:
        return [await transport.send(r, f"dlv_{i}") for i, r in enumerate(requests)]
    finally:
        await transport.close()


def get(url: str) -> RenderedRequest:
    return RenderedRequest(HttpMethod.GET, url, (), None)


def post(url: str, body: str = '{"a": 1}') -> RenderedRequest:
    return RenderedRequest(HttpMethod.POST, url, (("Content-Type", "application/json"),), body)


async def write(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def _ok(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await write(writer, OK)


async def test_chunked_reply(sender: Sender, serve: Callable[[Reply], Awaitable[Server]]) -> None:
    async def chunked(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await write(w, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await write(w, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    server = await serve(chunked)
    first, second = await send_all(sender(settings()), get(f"{server.base}/a"), get(server.base))
    for result in (first, second):
        assert result.reply is not None, result
        assert result.reply.body == b"hello world"
    assert server.connections == 1  # the chunked reply ended, the connection was kept


async def test_chunked_reply_over_the_cap_is_truncated(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def big(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await write(w, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await write(w, b"".join(b"40\r\n" + b"x" * 64 + b"\r\n" for _ in range(4)))
        await write(w, b"0\r\n\r\n")

    server = await serve(big)
    [result] = await send_all(sender(settings()), get(server.base))
    assert result.reply is not None and result.reply.truncated
    assert result.reply.body == b"x" * 100


async def test_reply_framed_by_closing_the_connection(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def until_close(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await write(w, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        w.close()

    server = await serve(until_close)
    first, second = await send_all(sender(settings()), get(server.base), get(server.base))
    assert first.reply is not None and first.reply.body == b"all of it"
    assert second.reply is not None and second.reply.status == 200
    assert server.connections == 2


async def test_interim_replies_are_skipped(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def interim(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await write(w, b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n")
        await write(w, b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")

    server = await serve(interim)
    [result] = await send_all(sender(settings()), post(server.base))
    assert result.reply is not None
    assert (result.reply.status, result.reply.body) == (201, b"done")


async def test_connection_close_is_honoured(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def closing(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await write(w, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nOK")
        w.close()

    server = await serve(closing)
    results = await send_all(sender(settings()), *(get(server.base) for _ in range(3)))
    assert [r.reply.status for r in results] == [200, 200, 200]
    assert server.connections == 3


async def test_body_cut_short_is_a_protocol_failure(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def short(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await write(w, b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this")
        w.close()

    server = await serve(short)
    [result] = await send_all(sender(settings()), post(server.base))
    assert result.reply is None
    assert result.failure is FailureReason.PROTOCOL
    assert result.error == "the reply's body was cut short or malformed"


async def test_a_kept_alive_connection_dropped_while_idle_is_replaced(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    server = await serve(_ok)
    transport = sender(settings())
    try:
        first = await transport.send(post(server.base), "dlv_1")
        for writer in server.writers:
            writer.close()  # the server's keep-alive timeout, as it were
        await asyncio.sleep(0.1)
        second = await transport.send(post(server.base), "dlv_2")
    finally:
        await transport.close()
    assert first.reply is not None and second.reply is not None, second
    assert server.connections == 2
    assert len(server.requests) == 2  # nothing sent twice


async def test_a_get_on_a_connection_dropped_just_as_it_is_reused_is_sent_again(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def once(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if len(s.requests) == 2 and s.connections == 1:
            w.transport.abort()  # the second request on the kept connection: no reply
            return
        await write(w, OK)

    server = await serve(once)
    first, second = await send_all(sender(settings()), get(server.base), get(server.base))
    assert first.reply is not None, first
    assert second.reply is not None, second
    assert server.connections == 2


async def test_per_host_limit_and_waiting_counts_against_the_timeout(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def slow(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        await write(w, OK)

    server = await serve(slow)
    transport = sender(settings(per_host_concurrency=2, total_timeout=0.5))
    try:
        results = await asyncio.gather(
            *(transport.send(get(f"{server.base}/{i}"), f"d{i}") for i in range(6))
        )
    finally:
        await transport.close()
    assert server.connections == 2
    # two at once, 0.3 s each: four fit in the 0.5 s, the last two time out waiting
    statuses = sorted("ok" if r.reply is not None else str(r.failure) for r in results)
    assert statuses.count("ok") >= 2
    assert all(s in {"ok", "timeout"} for s in statuses), statuses
    assert "timeout" in statuses


async def test_reply_headers_in_order_repeated_ones_kept(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def headers(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await write(
            w,
            b"HTTP/1.1 200 OK\r\nX-First: 1\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n"
            b"Content-Length: 0\r\n\r\n",
        )

    server = await serve(headers)
    [result] = await send_all(sender(settings()), get(server.base))
    assert result.reply is not None
    found = [(k.lower(), v) for k, v in result.reply.headers if k.lower() != "content-length"]
    assert found == [("x-first", "1"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]


async def test_the_request_as_written(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    server = await serve(_ok)
    url = server.base.replace("http://", "http://user:p%40ss@") + "/p?q=1#frag"
    request = RenderedRequest(HttpMethod.POST, url, (("X-A", "é"),), "body")
    await send_all(sender(settings(), LocalResolver()), request)
    [head] = server.requests
    lines = head.decode("utf-8").split("\r\n")
    assert lines[0] == "POST /p?q=1 HTTP/1.1"
    fields = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)}
    assert fields["host"] == server.base.removeprefix("http://")
    assert fields["x-a"] == "é"
    assert fields["content-length"] == "4"
    assert fields["authorization"] == "Basic dXNlcjpwQHNz"  # user:p@ss
    assert fields["postback-id"] == "dlv_0"


async def test_failed_connections_give_their_slot_back(
    sender: Sender, serve: Callable[[Reply], Awaitable[Server]]
) -> None:
    async def flaky(s: Server, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if s.connections <= 3:
            w.transport.abort()  # no reply, connection reset
            return
        await write(w, OK)

    server = await serve(flaky)
    # One connection at most: a slot a failure kept would make every later send wait for
    # it until the timeout.
    transport = sender(settings(per_host_concurrency=1, total_timeout=2.0))
    results = await send_all(transport, *(post(server.base) for _ in range(5)))
    assert [r.reply is not None for r in results] == [False, False, False, True, True]
    assert FailureReason.TIMEOUT not in [r.failure for r in results]
