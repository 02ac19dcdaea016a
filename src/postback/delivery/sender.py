"""A lean HTTP/1.1 client for postbacks: asyncio protocols, httptools' parser, a pool per host.

Why not aiohttp's client here: measured side by side (``benchmarks/sender_bench.py``,
``docs/performance.md``, "Sender"), its per-request conveniences cost the worker more
CPU than the whole rest of a delivery. A postback needs little of them: one request
with its body in hand, one reply read up to a cap, keep-alive, no redirects, no cookies,
no decompression. This module does only that, over the event loop's own transports
(uvloop's in the worker) with httptools (llhttp, the parser aiohttp and uvicorn use) for
the reply. Everything above sending (the address guard, headers, the words of a failure)
stays in :mod:`postback.delivery.transport`, which drives this client.

What it does:

* one :class:`Client` per set of allowed networks; in it, one pool per route (plain or
  TLS, host, port, TLS name), at most ``per_host`` connections each, kept alive up to
  ``KEEPALIVE_SECONDS`` idle, the most recently used first; a request beyond the limit
  waits (its deadline still running) for a connection to come back;
* a connection is opened only to addresses the caller's ``resolve`` returned (the guard
  checked them); each is tried in turn, as aiohttp does;
* through an HTTP proxy: requests in absolute form for http, a ``CONNECT`` tunnel then
  TLS with the destination's name for https, ``Proxy-Authorization`` from the proxy URL;
* replies framed by ``Content-Length``, chunked, or the end of the connection; 1xx
  interim replies skipped; the body kept up to ``cap`` bytes (over it, the connection is
  dropped rather than read to the end);
* a request on a reused connection that dies before any byte of a reply is sent once
  more on a fresh connection when its method is idempotent (GET), as aiohttp does (RFC
  9112, 9.3.1): the server may have closed the idle connection just as it was taken.

Failures are raised as the exceptions below (and :class:`TimeoutError`); the transport
words them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote

import httptools

KEEPALIVE_SECONDS = 15.0  # an idle connection is closed after this long (aiohttp's default)
CONNECT_REPLY_LIMIT = 16 * 1024  # bytes of a proxy's reply to CONNECT, at most
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

Resolve = Callable[[str, int], Awaitable[list[str]]]
Route = tuple[bool, str, int, str | None]  # TLS, host, port, TLS server name
Headers = tuple[tuple[str, str], ...]


class SendError(Exception):
    """A request that failed in the client; the transport words each kind."""


class ConnectFailed(SendError):
    """No connection to ``host:port`` (every address tried); ``error`` is the last one's."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        super().__init__(host, port, error)
        self.host, self.port, self.error = host, port, error


class ConnectTimeout(TimeoutError):
    """No connection within the connect timeout."""


class CertificateRejected(SendError):
    """The server's certificate did not verify; ``why`` is OpenSSL's reason."""

    def __init__(self, host: str, port: int, why: str) -> None:
        super().__init__(host, port, why)
        self.host, self.port, self.why = host, port, why


class TlsFailed(SendError):
    """The TLS handshake failed for another reason than the certificate."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class TunnelRefused(SendError):
    """The proxy answered ``CONNECT`` with something else than a 2xx."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class ReplyInvalid(SendError):
    """The reply is not HTTP; ``detail`` says where it went wrong."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ClosedEarly(SendError):
    """The connection ended before the reply did (``started``: some of it had come)."""

    def __init__(self, started: bool, error: OSError | None) -> None:
        super().__init__(started, error)
        self.started, self.error = started, error


@dataclass(frozen=True, slots=True)
class Answer:
    """A reply as received: status, headers in order, the body up to the cap."""

    status: int
    headers: Headers
    body: bytes
    truncated: bool


def basic_auth(userinfo: str) -> str:
    """``Basic ...`` for ``user:password`` as it appears in a URL (percent-decoded)."""
    user, _, password = userinfo.partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode("latin-1")
    return "Basic " + base64.b64encode(pair).decode("ascii")


class Client:
    """Pools of keep-alive connections, one per route; see the module's docstring."""

    def __init__(
        self,
        resolve: Resolve,
        tls: ssl.SSLContext,
        per_host: int,
        connect_timeout: float,
        proxy: tuple[str, int, str | None] | None = None,
    ) -> None:
        """``proxy``: host, port and ``Proxy-Authorization`` value (or None)."""
        self._resolve = resolve
        self._tls = tls
        self.per_host = per_host
        self._connect_timeout = connect_timeout
        self._proxy = proxy
        self._pools: dict[Route, _Pool] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self.closed = False

    async def request(
        self, route: Route, method: str, head: bytes, body: bytes, *, cap: int, deadline: float
    ) -> Answer:
        """Send ``head`` (request line and headers, CRLF-terminated) and ``body`` on a
        connection of ``route``; the reply by ``deadline`` (the loop's clock)."""
        pool = self._pools.get(route)
        if pool is None:
            pool = self._pools[route] = _Pool(self, route)
        for again in (True, False):
            conn, reused = await pool.acquire(deadline)
            try:
                answer = await conn.exchange(head, body, cap, deadline)
            except ClosedEarly as closed:
                pool.release(conn, keep=False)
                if again and reused and not closed.started and method in IDEMPOTENT:
                    continue
                raise
            except BaseException:
                pool.release(conn, keep=False)
                raise
            pool.release(conn, keep=conn.reusable)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Close every connection; requests after this fail."""
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
        await asyncio.sleep(0)  # let the transports run their connection_lost

    # -- connecting ----------------------------------------------------------------------
    async def open(self, route: Route, deadline: float) -> _Connection:
        """A new connection for ``route``: resolve (checked by the caller), connect (TLS,
        through the proxy if any) within the connect timeout and ``deadline``."""
        if self.closed:
            raise ConnectFailed(route[1], route[2], ConnectionAbortedError("client closed"))
        loop = asyncio.get_running_loop()
        limit = min(self._connect_timeout, deadline - loop.time())
        try:
            async with asyncio.timeout(limit):
                if self._proxy is None:
                    return await self._direct(route)
                return await self._proxied(route)
        except TimeoutError:
            if loop.time() >= deadline:
                raise TimeoutError from None
            raise ConnectTimeout from None

    async def _direct(self, route: Route) -> _Connection:
        tls, host, port, name = route
        context = self._tls if tls else None
        return await self._connect(host, port, context, name if tls else None, route)

    async def _proxied(self, route: Route) -> _Connection:
        assert self._proxy is not None
        tls, host, port, name = route
        proxy_host, proxy_port, _ = self._proxy
        conn = await self._connect(proxy_host, proxy_port, None, None, route)
        if not tls:
            return conn
        try:
            await conn.tunnel(self._connect_head(host, port))
            await conn.upgrade(self._tls, name or host, host, port)
        except BaseException:
            conn.abort()
            raise
        return conn

    def _connect_head(self, host: str, port: int) -> bytes:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if self._proxy is not None and self._proxy[2] is not None:
            lines.append(f"Proxy-Authorization: {self._proxy[2]}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _connect(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext | None,
        name: str | None,
        route: Route,
    ) -> _Connection:
        """Connect to each address of ``host`` in turn; the first that answers."""
        loop = asyncio.get_running_loop()
        last: OSError = ConnectionRefusedError("no address")
        for address in await self._resolve(host, port):
            conn = _Connection(route)
            try:
                await loop.create_connection(
                    _factory(conn),
                    address,
                    port,
                    ssl=context,
                    server_hostname=name,
                    ssl_handshake_timeout=None if context is None else self._connect_timeout,
                )
            except ssl.SSLCertVerificationError as error:
                raise CertificateRejected(host, port, _verify_message(error)) from None
            except ssl.SSLError:
                raise TlsFailed(host) from None
            except OSError as error:
                last = error
                continue
            return conn
        raise ConnectFailed(host, port, last)

    def idle_added(self) -> None:
        """Make sure idle connections get swept (once every ``KEEPALIVE_SECONDS``)."""
        if self._sweeper is None and not self.closed:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(KEEPALIVE_SECONDS, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        idle = False
        for route, pool in list(self._pools.items()):
            idle = pool.sweep(now - KEEPALIVE_SECONDS) or idle
            if pool.empty():
                del self._pools[route]
        if idle:
            self.idle_added()


class _Pool:
    """The connections of one route: idle ones (most recent last), how many are open,
    and the requests waiting for one."""

    def __init__(self, client: Client, route: Route) -> None:
        self.client = client
        self.route = route
        self.idle: deque[_Connection] = deque()
        self.open = 0  # idle, in use, or being opened
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()

    async def acquire(self, deadline: float) -> tuple[_Connection, bool]:
        """A connection and whether it was used before."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn, True
        if self.open >= self.client.per_host:
            handed = await self._wait(deadline)
            if handed is not None:
                return handed, True
        else:
            self.open += 1
        try:
            conn = await self.client.open(self.route, deadline)
        except BaseException:
            self.free_slot()
            raise
        if conn.closed:  # lost before this pool tracked it: its slot is freed here
            self.free_slot()
        else:
            conn.pool = self
        return conn, False

    async def _wait(self, deadline: float) -> _Connection | None:
        """Wait for a connection handed back (or None: a free slot, now this request's)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self.waiters.append(waiter)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over just as this request gave up
                if handed is None:
                    self.free_slot()
                else:
                    self.release(handed, keep=True)
            raise
        finally:
            timer.cancel()

    def release(self, conn: _Connection, keep: bool) -> None:
        """Give a connection back after a request: to a waiting request, to the idle ones,
        or (``keep`` false) closed."""
        if not keep or not conn.usable() or self.client.closed:
            conn.abort()  # its connection_lost frees the slot
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = asyncio.get_running_loop().time()
        self.idle.append(conn)
        self.client.idle_added()

    def lost(self, conn: _Connection) -> None:
        """A connection of this pool closed: forget it, free its slot."""
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        self.free_slot()

    def free_slot(self) -> None:
        """One connection fewer: the slot goes to the first waiting request, if any."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1

    def sweep(self, older: float) -> bool:
        """Close connections idle since before ``older``; whether any stay idle."""
        while self.idle and self.idle[0].idle_since < older:
            self.idle.popleft().abort()
        return bool(self.idle)

    def empty(self) -> bool:
        return self.open <= 0 and not self.waiters

    def close(self) -> None:
        while self.idle:
            self.idle.pop().abort()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectFailed(self.route[1], self.route[2], _aborted()))


def _factory(conn: _Connection) -> Callable[[], _Connection]:
    return lambda: conn


def _expire(waiter: asyncio.Future[_Connection | None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _aborted() -> OSError:
    return ConnectionAbortedError("the client was closed")


class _Connection(asyncio.Protocol):
    """One connection and the exchange on it (one request at a time)."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.pool: _Pool | None = None
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._reply: asyncio.Future[Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tunnel: asyncio.Future[bytes] | None = None
        self._head = b""
        self._reset(0)

    def _reset(self, cap: int) -> None:
        self._cap = cap
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._started = False
        self._status_line = False
        self._headers_done = False

    # -- the exchange --------------------------------------------------------------------
    def usable(self) -> bool:
        """Open, and not being closed: a request may go on it."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def exchange(
        self, head: bytes, body: bytes, cap: int, deadline: float
    ) -> asyncio.Future[Answer]:
        """Write the request; the reply's future, failed with :class:`TimeoutError` at
        ``deadline``."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ClosedEarly(False, None)
        loop = asyncio.get_running_loop()
        self._reset(cap)
        self.reusable = False
        reply: asyncio.Future[Answer] = loop.create_future()
        self._reply = reply
        self._timer = loop.call_at(deadline, self._expired)
        if len(body) < 65536:
            transport.write(head + body)  # one write, one system call
        else:
            transport.writelines((head, body))
        return reply

    def _expired(self) -> None:
        self._fail(TimeoutError())
        self.abort()

    def _finish(self, keep: bool) -> None:
        reply = self._reply
        if reply is None or reply.done():
            return
        self.reusable = keep
        body = b"".join(self._body)
        truncated = self._size > self._cap
        if truncated:
            body = body[: self._cap]
        reply.set_result(Answer(self._status, tuple(self._headers), body, truncated))
        self._done()

    def _fail(self, error: BaseException) -> None:
        reply = self._reply
        if reply is not None and not reply.done():
            reply.set_exception(error)
        self._done()

    def _done(self) -> None:
        self._reply = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel_data(data)
            return
        if self._reply is None:
            self.abort()  # nothing was asked: a server talking out of turn
            return
        self._started = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ReplyInvalid("the server switched protocols"))
            self.abort()
        except httptools.HttpParserError as error:
            self._fail(ReplyInvalid(_parse_words(error, self._status_line)))
            self.abort()
        if self._reply is None and self._size > self._cap:
            self.abort()  # the rest of a capped body is not wanted

    def eof_received(self) -> bool:
        return False  # close; connection_lost settles the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.pool is not None:
            pool, self.pool = self.pool, None
            pool.lost(self)
        if self._tunnel is not None and not self._tunnel.done():
            self._tunnel.set_exception(ClosedEarly(bool(self._head), _os_error(exc)))
        if self._reply is None:
            return
        if self._headers_done and self._framed_by_close():
            self._finish(keep=False)
        else:
            self._fail(ClosedEarly(self._started, _os_error(exc)))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- httptools callbacks -------------------------------------------------------------
    def on_status(self, status: bytes) -> None:
        self._status_line = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if self._size <= self._cap:
            self._size += len(body)
            self._body.append(body)
            if self._size > self._cap:
                self._finish(keep=False)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._reset(self._cap)  # an interim reply: the real one follows
            return
        self._finish(keep=self.parser.should_keep_alive())

    def _framed_by_close(self) -> bool:
        """Whether the reply's body runs to the end of the connection (no length given)."""
        names = {name.lower() for name, _ in self._headers}
        return "content-length" not in names and "transfer-encoding" not in names

    # -- proxy tunnel --------------------------------------------------------------------
    async def tunnel(self, head: bytes) -> None:
        """Ask the proxy for a tunnel; return once it said yes."""
        assert self.transport is not None
        self._tunnel = asyncio.get_running_loop().create_future()
        self.transport.write(head)
        try:
            reply = await self._tunnel
        finally:
            self._tunnel = None
        status = reply.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        parts = status.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].startswith("2"):
            raise TunnelRefused(status[:100])

    def _tunnel_data(self, data: bytes) -> None:
        assert self._tunnel is not None
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end >= 0 and not self._tunnel.done():
            if end + 4 != len(self._head):
                self._tunnel.set_exception(ReplyInvalid("the proxy sent data before TLS"))
            else:
                self._tunnel.set_result(self._head)
        elif len(self._head) > CONNECT_REPLY_LIMIT and not self._tunnel.done():
            self._tunnel.set_exception(ReplyInvalid("the proxy's reply to CONNECT is too long"))

    async def upgrade(self, context: ssl.SSLContext, name: str, host: str, port: int) -> None:
        """TLS over the tunnel, the certificate checked against ``name``."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        try:
            upgraded = await loop.start_tls(self.transport, self, context, server_hostname=name)
        except ssl.SSLCertVerificationError as error:
            raise CertificateRejected(host, port, _verify_message(error)) from None
        except ssl.SSLError:
            raise TlsFailed(host) from None
        except OSError as error:
            raise ConnectFailed(host, port, error) from None
        self.transport = cast(asyncio.Transport, upgraded)


def _verify_message(error: ssl.SSLCertVerificationError) -> str:
    return str(getattr(error, "verify_message", "") or "not trusted")


def _os_error(exc: BaseException | None) -> OSError | None:
    return exc if isinstance(exc, OSError) else None


def _parse_words(error: Exception, status_line: bool) -> str:
    """Where the reply stopped being HTTP (before a status line: aiohttp's words)."""
    if not status_line:
        return "bad status line"
    detail = str(error).strip().rstrip(".").lower()
    return detail[:200] or "malformed"
