"""Sending one rendered request: with :mod:`postback.delivery.sender`, the only part of the
delivery path that touches sockets.

Two transports, chosen by ``POSTBACK_SENDER`` (:func:`transport_for`):
:class:`LeanTransport` (the default) over :class:`postback.delivery.sender.Client`, and
:class:`AioHttpTransport` over an ``aiohttp.ClientSession``. Both keep connections alive
(at most ``per_host_concurrency`` per host), cache DNS answers 30 s, keep no cookies,
take no proxy from the environment, follow no redirects, and never raise for a network
problem: every call returns a :class:`SendResult`. Everything below is theirs alike
(:class:`_GuardedTransport`); only the exchange and the client's own errors differ.

The address guard runs before any connection is made: an IP-literal host is checked
here, and a name is resolved by :class:`GuardedResolver`, which drops every address
:func:`postback.rules.addresses.is_blocked` refuses and fails when none is left. The
connection then goes to exactly the addresses that were checked, so a DNS answer cannot
change between the check and the connect.

How failures are named (:class:`~postback.domain.FailureReason`):

============================================  =================
what happened                                 reason
============================================  =================
URL not http(s), no host, control characters  ``invalid_url``
address refused by the guard                  ``blocked_address``
host name does not exist                      ``dns``
DNS temporarily unavailable (``EAI_AGAIN``)   ``connection`` (retried)
no reply within the connect / total timeout   ``timeout``
connection refused or reset, TLS failure      ``connection``
reply is not HTTP, or cut short               ``protocol``
header the client refuses (not a token, CR,   ``invalid_request`` (nothing is
LF or NUL in a value, not encodable)          sent; never retried)
============================================  =================

With ``POSTBACK_OUTBOUND_PROXY`` every request goes through that HTTP proxy (CONNECT for
https). The guard still applies to the destination: its name is resolved and checked
here, and the proxy is asked for the checked address (the Host header, TLS server name
and certificate check keep the name), so the proxy's own resolution cannot differ. The
proxy's own address is the operator's and is not checked.

Certificates of https receivers are always verified, against the system's certificate
authorities or, with ``POSTBACK_CA_FILE``, against that bundle only.

Every error message is a sentence a postback's owner can read ("the connection was
refused by 10.1.2.3:8080"), never the repr of a client object, and never the URL.

Allowed networks are the operator's (``POSTBACK_ALLOWED_NETWORKS``) plus, per call, the
owning account's. Each distinct set of extra networks gets a session of its own, so a
DNS answer or a kept-alive connection admitted for one account is never reused for
another. Tests inject a resolver (``resolver=``) so that no name leaves the machine.

Time spent waiting for a free connection counts against ``total_timeout``: the worker
should not run more sends to one host at once than ``per_host_concurrency``.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict
from yarl import URL

from postback import __version__
from postback.config import Network, Settings
from postback.delivery.sender import (
    CertificateRejected,
    Client,
    ClosedEarly,
    ConnectFailed,
    ConnectTimeout,
    ReplyInvalid,
    SendError,
    TlsFailed,
    TunnelRefused,
    basic_auth,
)
from postback.domain.records import FailureReason, RenderedRequest, Reply
from postback.rules.addresses import host_address, is_blocked
from postback.rules.postback import TOKEN

USER_AGENT = f"Postback/{__version__}"
ID_HEADER = "Postback-Id"
DNS_CACHE_SECONDS = 30
SCHEMES = frozenset({"http", "https"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_BREAKS = re.compile(r"[\r\n\x00]")

_Attempted = tuple[Reply | None, FailureReason | None, str | None]


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt produced: a reply, or a failure and its error message."""

    reply: Reply | None
    failure: FailureReason | None
    error: str | None
    duration_ms: float
    started_at: datetime


class Transport(Protocol):
    """Sends rendered requests; the worker depends on this, tests may supply another."""

    async def send(
        self, request: RenderedRequest, delivery_id: str, allowed: tuple[Network, ...] = ()
    ) -> SendResult:
        """Send ``request`` once, tagged with ``Postback-Id: delivery_id``; ``allowed``
        adds the owning account's networks to the operator's."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class AddressBlocked(OSError):
    """Raised inside the resolver when a name resolves to no allowed address."""


class _Refused(Exception):
    """A request refused before sending: carries the failure reason and message."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class GuardedResolver(AbstractResolver):
    """A resolver (by default aiohttp's threaded, system one) keeping only addresses the
    guard allows. It does not own ``inner`` when one is given: closing leaves it open."""

    def __init__(
        self,
        allowed: tuple[Network, ...],
        inner: AbstractResolver | None = None,
        trusted: frozenset[str] = frozenset(),
    ):
        self._allowed = allowed
        self._owned = inner is None
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()
        self._trusted = trusted  # the operator's outbound proxy: not a postback's destination

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host``; raise :class:`AddressBlocked` if no allowed address is left."""
        found = await self._inner.resolve(host, port, family)
        if host in self._trusted:
            return found
        kept = [r for r in found if not _address_blocked(r["host"], self._allowed)]
        if not kept:
            shown = ", ".join(sorted({r["host"] for r in found})) or "nothing"
            raise AddressBlocked(f"{host} resolves to {shown}: not an allowed address")
        return kept

    async def close(self) -> None:
        """Close the wrapped resolver, if it is this one's own."""
        if self._owned:
            await self._inner.close()


class _GuardedTransport:
    """What both senders share: the guard, the headers, the proxy's pinned addresses, one
    resolver per set of extra networks, and turning failures into results."""

    _failures: tuple[type[BaseException], ...] = (TimeoutError, OSError, ValueError)

    def __init__(self, settings: Settings, resolver: AbstractResolver | None = None) -> None:
        self._settings = settings
        self._inner = resolver  # None: the system's (aiohttp.ThreadedResolver), one per key
        self._resolvers: dict[tuple[Network, ...], GuardedResolver] = {}
        self._proxy = URL(settings.outbound_proxy) if settings.outbound_proxy else None
        self._pins: dict[tuple[tuple[Network, ...], str, int], tuple[float, str]] = {}
        self._proxy_hosts = frozenset(
            {self._proxy.raw_host} if self._proxy is not None and self._proxy.raw_host else ()
        )

    async def send(
        self, request: RenderedRequest, delivery_id: str, allowed: tuple[Network, ...] = ()
    ) -> SendResult:
        """Send once; network problems come back as a failure, never as an exception.

        ``allowed``: networks the owning account may reach besides the operator's."""
        started_at = datetime.now(UTC)
        began = time.perf_counter()
        reply, failure, error = await self._attempt(request, delivery_id, allowed)
        elapsed = (time.perf_counter() - began) * 1000.0
        return SendResult(reply, failure, error, elapsed, started_at)

    async def close(self) -> None:
        """Close the connections; the transport may not be used after."""
        await self._close_clients()
        resolvers, self._resolvers = self._resolvers, {}
        for resolver in resolvers.values():
            await resolver.close()  # an injected resolver stays open: its owner closes it

    async def _close_clients(self) -> None:
        raise NotImplementedError

    async def _attempt(
        self, request: RenderedRequest, delivery_id: str, extra: tuple[Network, ...]
    ) -> _Attempted:
        try:
            allowed = self._settings.allowed_networks + extra
            url = check_url(request.url, allowed)
            headers = build_headers(request.headers, delivery_id)
            return await self._exchange(request, url, headers, extra), None, None
        except _Refused as refused:
            return None, refused.reason, refused.message
        except self._failures as exc:
            reason, message = self._describe(exc)
            return None, reason, message

    async def _exchange(
        self,
        request: RenderedRequest,
        url: URL,
        headers: CIMultiDict[str],
        extra: tuple[Network, ...],
    ) -> Reply:
        raise NotImplementedError

    def _describe(self, exc: BaseException) -> tuple[FailureReason, str]:
        raise NotImplementedError

    def _resolver_now(self, key: tuple[Network, ...]) -> GuardedResolver:
        """The guarded resolver for one set of extra networks."""
        resolver = self._resolvers.get(key)
        if resolver is None:
            resolver = self._resolvers[key] = GuardedResolver(
                self._settings.allowed_networks + key, self._inner, trusted=self._proxy_hosts
            )
        return resolver

    async def _pinned_address(self, host: str, port: int, key: tuple[Network, ...]) -> str:
        """An allowed address of ``host`` for one set of extra networks (answers kept
        ``DNS_CACHE_SECONDS``, as the connection pools keep their own)."""
        now = time.monotonic()
        cached = self._pins.get((key, host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found = await self._resolver_now(key).resolve(host, port, socket.AF_UNSPEC)
        except OSError as error:
            raise _Refused(*_dns_failure(error, host)) from None
        if len(self._pins) > 4096:
            self._pins.clear()
        self._pins[(key, host, port)] = (now + DNS_CACHE_SECONDS, found[0]["host"])
        return found[0]["host"]

    def _tls_context(self) -> ssl.SSLContext:
        """The system's trust store, or only ``POSTBACK_CA_FILE``; verification stays on."""
        ca_file = self._settings.ca_file
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))

    def _timeout_words(self, exc: TimeoutError) -> tuple[FailureReason, str]:
        if isinstance(exc, aiohttp.ConnectionTimeoutError | ConnectTimeout):
            return (
                FailureReason.TIMEOUT,
                f"no connection within {self._settings.connect_timeout:g} s",
            )
        return (
            FailureReason.TIMEOUT,
            f"no complete reply within {self._settings.total_timeout:g} s",
        )


class AioHttpTransport(_GuardedTransport):
    """The :class:`Transport` over one aiohttp session per set of extra networks."""

    _failures = (TimeoutError, aiohttp.ClientError, OSError, ValueError)

    def __init__(self, settings: Settings, resolver: AbstractResolver | None = None) -> None:
        super().__init__(settings, resolver)
        self._sessions: dict[tuple[Network, ...], aiohttp.ClientSession] = {}

    async def _close_clients(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()

    async def _exchange(
        self,
        request: RenderedRequest,
        url: URL,
        headers: CIMultiDict[str],
        extra: tuple[Network, ...],
    ) -> Reply:
        body = None if request.body is None else request.body.encode("utf-8")
        key = _networks_key(extra)
        session = self._session_now(key)
        options: dict[str, Any] = {}
        if self._proxy is not None:
            url, options = await self._through_proxy(url, headers, key)
        async with session.request(
            request.method.value,
            url,
            headers=headers,
            data=body,
            allow_redirects=False,
            skip_auto_headers=("Content-Type",),
            **options,
        ) as response:
            data, truncated = await read_capped(response.content, self._settings.max_reply_bytes)
            if truncated:
                response.close()  # the rest is not wanted: drop the connection
            return Reply(response.status, tuple(response.headers.items()), data, truncated)

    async def _through_proxy(
        self, url: URL, headers: CIMultiDict[str], key: tuple[Network, ...]
    ) -> tuple[URL, dict[str, Any]]:
        """The URL to ask the proxy for, pinned to an address the guard checked here (the
        proxy's own resolution could differ), and the request's proxy arguments.

        The Host header (and, for https, the TLS server name and certificate check) keep
        the URL's name; the proxy is asked to connect to the checked address."""
        host = url.raw_host or ""
        options: dict[str, Any] = {"proxy": self._proxy}
        if _ip_literal(host) is not None:
            return url, options  # checked by check_url
        address = await self._pinned_address(host, url.port or 0, key)
        headers.setdefault("Host", url.raw_authority.rpartition("@")[2])
        if url.scheme.lower() == "https":
            options["server_hostname"] = host
        return url.with_host(address), options

    def _session_now(self, key: tuple[Network, ...]) -> aiohttp.ClientSession:
        """The session for one set of extra networks (its DNS cache and pool its own)."""
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = aiohttp.ClientSession(
                connector=self._connector(self._resolver_now(key)),
                timeout=aiohttp.ClientTimeout(
                    total=self._settings.total_timeout,
                    sock_connect=self._settings.connect_timeout,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return session

    def _connector(self, resolver: AbstractResolver) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(
            limit=0,  # the worker bounds concurrency overall; per host, the setting does
            limit_per_host=self._settings.per_host_concurrency,
            ttl_dns_cache=DNS_CACHE_SECONDS,
            resolver=resolver,
            # POSTBACK_CA_FILE replaces the system's trust store; verification stays on.
            ssl=True if self._settings.ca_file is None else self._tls_context(),
        )

    def _describe(self, exc: BaseException) -> tuple[FailureReason, str]:
        """Name a send failure, with a message that never repeats the URL (or its secrets)."""
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return _dns_failure(exc.os_error, exc.host)
        if isinstance(exc, TimeoutError):
            return self._timeout_words(exc)
        return _other_failure(exc)


class LeanTransport(_GuardedTransport):
    """The :class:`Transport` over :mod:`postback.delivery.sender` (httptools on the event
    loop's own transports): one client per set of extra networks, like the sessions."""

    _failures = (TimeoutError, SendError, OSError, ValueError)

    def __init__(self, settings: Settings, resolver: AbstractResolver | None = None) -> None:
        super().__init__(settings, resolver)
        self._clients: dict[tuple[Network, ...], Client] = {}
        self._addresses: dict[tuple[tuple[Network, ...], str, int], tuple[float, list[str]]] = {}
        self._tls: ssl.SSLContext | None = None
        self._proxy_route = _proxy_route(self._proxy)

    async def _close_clients(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()

    async def _exchange(
        self,
        request: RenderedRequest,
        url: URL,
        headers: CIMultiDict[str],
        extra: tuple[Network, ...],
    ) -> Reply:
        body = b"" if request.body is None else request.body.encode("utf-8")
        key = _networks_key(extra)
        client = self._clients.get(key) or self._client_now(key)
        host = url.raw_host or ""
        port = url.port or 0
        tls = url.scheme.lower() == "https"
        route = (tls, host, port, host if tls else None)
        target = url.raw_path_qs or "/"
        if self._proxy is not None:
            if _ip_literal(host) is None:
                headers.setdefault("Host", url.host_port_subcomponent or host)
                route = (tls, await self._pinned_address(host, port, key), port, route[3])
            if not tls:
                shown = f"[{route[1]}]" if ":" in route[1] else route[1]
                target = f"http://{shown}:{port}{target}"
        method = request.method.value
        head = request_head(method, target, url, headers, None if request.body is None else body)
        deadline = asyncio.get_running_loop().time() + self._settings.total_timeout
        cap = self._settings.max_reply_bytes
        answer = await client.request(route, method, head, body, cap=cap, deadline=deadline)
        return Reply(answer.status, answer.headers, answer.body, answer.truncated)

    def _client_now(self, key: tuple[Network, ...]) -> Client:
        if self._tls is None:
            self._tls = self._tls_context()
        resolver = self._resolver_now(key)

        async def resolve(host: str, port: int) -> list[str]:
            return await self._addresses_of(resolver, key, host, port)

        client = self._clients[key] = Client(
            resolve,
            self._tls,
            self._settings.per_host_concurrency,
            self._settings.connect_timeout,
            self._proxy_route,
        )
        return client

    async def _addresses_of(
        self, resolver: GuardedResolver, key: tuple[Network, ...], host: str, port: int
    ) -> list[str]:
        """The addresses to connect to: an IP literal as is (checked by ``check_url``, or
        the proxy's), a name's allowed addresses (kept ``DNS_CACHE_SECONDS``)."""
        if _ip_literal(host) is not None:
            return [host.strip("[]")]
        now = time.monotonic()
        cached = self._addresses.get((key, host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found = await resolver.resolve(host, port, socket.AF_UNSPEC)
        except OSError as error:
            raise _Refused(*_dns_failure(error, host)) from None
        addresses = list(dict.fromkeys(r["host"] for r in found))
        if len(self._addresses) > 4096:
            self._addresses.clear()
        self._addresses[(key, host, port)] = (now + DNS_CACHE_SECONDS, addresses)
        return addresses

    def _describe(self, exc: BaseException) -> tuple[FailureReason, str]:
        """Name a send failure, in the same words as the aiohttp transport's."""
        if isinstance(exc, TimeoutError):
            return self._timeout_words(exc)
        if isinstance(exc, SendError):
            return _send_error_words(exc)
        if isinstance(exc, OSError):
            return FailureReason.CONNECTION, f"the connection broke: {_os_words(exc)}"
        return _refused_request(exc)


_HEAD_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # CR and LF: counted below
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def request_head(
    method: str, target: str, url: URL, headers: CIMultiDict[str], body: bytes | None
) -> bytes:
    """The request line and headers, as aiohttp would write them for a postback: Host
    first (unless given), ``Accept: */*``, the stored headers in order, Basic auth from
    the URL's user info, ``Content-Length`` when there is a body; no Accept-Encoding, so
    replies come as sent. Raises ValueError for a control character (as aiohttp does)."""
    lines = [f"{method} {target} HTTP/1.1"]
    if "Host" not in headers:
        lines.append(f"Host: {url.host_port_subcomponent}")
    if "Accept" not in headers:
        lines.append("Accept: */*")
    for name, value in headers.items():
        if name.lower() not in _FRAMING:
            lines.append(f"{name}: {value}")
    if url.raw_user:
        lines.append(f"Authorization: {basic_auth(url.raw_authority.rpartition('@')[0])}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1
    if _HEAD_BAD.search(text) or text.count("\r") != breaks or text.count("\n") != breaks:
        raise ValueError("a control character in the request head")
    return (text + "\r\n\r\n").encode("utf-8")


def _proxy_route(proxy: URL | None) -> tuple[str, int, str | None] | None:
    if proxy is None:
        return None
    auth = basic_auth(proxy.raw_authority.rpartition("@")[0]) if proxy.raw_user else None
    return (proxy.raw_host or "", proxy.port or 80, auth)


def _send_error_words(exc: SendError) -> tuple[FailureReason, str]:
    if isinstance(exc, ReplyInvalid):
        return FailureReason.PROTOCOL, f"the reply is not valid HTTP ({exc.detail})"
    if isinstance(exc, ClosedEarly):
        if exc.started:
            return FailureReason.PROTOCOL, "the reply's body was cut short or malformed"
        if exc.error is not None:
            return FailureReason.CONNECTION, f"the connection broke: {_os_words(exc.error)}"
        return FailureReason.PROTOCOL, "the server closed the connection without replying"
    return FailureReason.CONNECTION, _connect_words(exc)


def _connect_words(exc: SendError) -> str:
    if isinstance(exc, ConnectFailed):
        return f"cannot connect to {exc.host}:{exc.port}: {_os_words(exc.error)}"
    if isinstance(exc, CertificateRejected):
        return f"the certificate of {exc.host}:{exc.port} could not be verified ({exc.why})"
    if isinstance(exc, TlsFailed):
        return f"the TLS handshake with {exc.host} failed"
    if isinstance(exc, TunnelRefused):
        return f"the proxy refused the tunnel ({exc.status})"
    return "the connection failed"


def transport_for(settings: Settings, resolver: AbstractResolver | None = None) -> Transport:
    """The transport ``POSTBACK_SENDER`` names (``lean`` unless ``aiohttp``)."""
    if settings.sender == "aiohttp":
        return AioHttpTransport(settings, resolver)
    return LeanTransport(settings, resolver)


def _networks_key(extra: tuple[Network, ...]) -> tuple[Network, ...]:
    """One key per distinct set of extra networks, whatever their order."""
    return tuple(sorted(set(extra), key=str))


def check_url(raw: str, allowed: tuple[Network, ...]) -> URL:
    """The URL to send (kept as stored when it is wire-ready ASCII); refuse bad ones.

    Raises ``_Refused`` with ``invalid_url`` for anything but an http(s) URL with a
    host, and with ``blocked_address`` for an IP-literal host the guard refuses.
    """
    if _CONTROL.search(raw):
        raise _Refused(FailureReason.INVALID_URL, "the URL contains a control character")
    url = _parse_url(raw)
    if url.scheme.lower() not in SCHEMES:
        raise _Refused(FailureReason.INVALID_URL, f"scheme {url.scheme!r} is not http or https")
    if not url.raw_host:
        raise _Refused(FailureReason.INVALID_URL, "the URL has no host")
    refused = _refused_literal(url.raw_host, allowed)
    if refused is not None:
        raise _Refused(*refused)
    return url


def build_headers(pairs: Iterable[tuple[str, str]], delivery_id: str) -> CIMultiDict[str]:
    """The stored headers as-is, plus ``Postback-Id`` and (unless set) ``User-Agent``.

    Raises ``_Refused`` (``invalid_request``) for a name that is not an HTTP token or a
    value with CR, LF or NUL: such a header would split the request.
    """
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in (*pairs, (ID_HEADER, delivery_id)):
        _check_header(name, value)
        if name.lower() != ID_HEADER.lower():
            headers.add(name, value)
    headers[ID_HEADER] = delivery_id
    headers.setdefault("User-Agent", USER_AGENT)
    return headers


def as_sent(request: RenderedRequest, delivery_id: str) -> RenderedRequest:
    """The request with the headers :func:`build_headers` adds, as the log shows it."""
    headers = [(n, v) for n, v in request.headers if n.lower() != ID_HEADER.lower()]
    headers.append((ID_HEADER, delivery_id))
    if not any(n.lower() == "user-agent" for n, _ in headers):
        headers.append(("User-Agent", USER_AGENT))
    return RenderedRequest(request.method, request.url, tuple(headers), request.body)


async def read_capped(stream: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes of a body; the flag says whether more was there."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:limit], size > limit


def retry_after(reply: Reply | None) -> str | None:
    """The reply's ``Retry-After`` header value, if it has one."""
    if reply is None:
        return None
    return next((v for k, v in reply.headers if k.lower() == "retry-after"), None)


def _parse_url(raw: str) -> URL:
    try:
        # Wire-ready ASCII is sent byte for byte, as stored; yarl encodes anything else.
        url = URL(raw, encoded=True) if raw.isascii() and " " not in raw else URL(raw)
        url.port  # noqa: B018 -- reading it checks the port is in range
    except (ValueError, TypeError) as exc:
        raise _Refused(FailureReason.INVALID_URL, f"the URL cannot be parsed: {exc}") from None
    return url


@functools.lru_cache(maxsize=4096)
def _refused_literal(host: str, allowed: tuple[Network, ...]) -> tuple[FailureReason, str] | None:
    """Why ``host`` is refused when it is an IP address in any spelling (cached per host:
    every request asks, and parsing an address each time costs the worker)."""
    literal = host_address(host)
    if literal is None:
        return None
    if is_blocked(literal, allowed):
        return FailureReason.BLOCKED_ADDRESS, f"{literal} is not an allowed address"
    if _ip_literal(host) is None or "%" in host:
        # 127.1, 0x7f.1, %31.0.0.1, ...: the client and the system read these differently
        return (
            FailureReason.INVALID_URL,
            f"the host is an unusual spelling of {literal}; write the address as {literal}",
        )
    return None


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _check_header(name: str, value: str) -> None:
    if not TOKEN.fullmatch(name):
        raise _Refused(
            FailureReason.INVALID_REQUEST, f"the header name {name!r} is not a valid HTTP token"
        )
    if _HEADER_BREAKS.search(value):
        raise _Refused(
            FailureReason.INVALID_REQUEST,
            f"the value of header {name} contains a line break or NUL",
        )


def _address_blocked(host: str, allowed: tuple[Network, ...]) -> bool:
    address = host_address(host)
    return address is None or is_blocked(address, allowed)  # unreadable: refuse


def _dns_failure(error: OSError, host: str = "") -> tuple[FailureReason, str]:
    if isinstance(error, AddressBlocked):
        return FailureReason.BLOCKED_ADDRESS, str(error)
    name = f"the host name {host}" if host else "the host name"
    if isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN:
        return (
            FailureReason.CONNECTION,
            f"{name} could not be resolved for now (temporary DNS failure)",
        )
    return FailureReason.DNS, f"{name} does not exist (DNS: {_os_words(error)})"


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "the connection was refused",
    errno.ECONNRESET: "the connection was reset",
    errno.ECONNABORTED: "the connection was aborted",
    errno.EPIPE: "the connection was closed while sending",
    errno.EHOSTUNREACH: "there is no route to the host",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ETIMEDOUT: "the connection timed out",
}


def _os_words(error: BaseException) -> str:
    """An OS error in words: 'the connection was refused', not '[Errno 111] ...'."""
    number = getattr(error, "errno", None)
    if isinstance(number, int) and number in _ERRNO_WORDS:
        return _ERRNO_WORDS[number]
    if isinstance(error, socket.gaierror):
        return str(error.strerror or "no address").lower()
    if isinstance(number, int) and number > 0:
        return os.strerror(number).lower()
    return type(error).__name__


def _other_failure(exc: BaseException) -> tuple[FailureReason, str]:
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        # its text would repeat the URL; the description alone says what is wrong
        why = getattr(exc, "description", None)
        return FailureReason.INVALID_URL, f"the URL cannot be sent ({why or 'invalid'})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return FailureReason.CONNECTION, _tls_words(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        words = _os_words(exc.os_error)
        return FailureReason.CONNECTION, f"cannot connect to {exc.host}:{exc.port}: {words}"
    reply = _reply_failure(exc)
    if reply is not None:
        return FailureReason.PROTOCOL, reply
    if isinstance(exc, aiohttp.ClientError | OSError):
        return FailureReason.CONNECTION, f"the connection broke: {_os_words(exc)}"
    return _refused_request(exc)


def _tls_words(exc: aiohttp.ClientSSLError) -> str:
    """A TLS failure in words; for a certificate, OpenSSL's reason ('unable to get local
    issuer certificate', 'certificate has expired', 'Hostname mismatch, ...')."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = getattr(exc.certificate_error, "verify_message", None) or "not trusted"
        return f"the certificate of {exc.host}:{exc.port} could not be verified ({why})"
    return f"the TLS handshake with {exc.host} failed"


def _refused_request(exc: BaseException) -> tuple[FailureReason, str]:
    """A ValueError: the client will not send the request as built; it never would."""
    if isinstance(exc, UnicodeError):
        return FailureReason.INVALID_REQUEST, "the request has text that cannot be encoded"
    return (
        FailureReason.INVALID_REQUEST,
        "the HTTP client refused the request as built (a control character in a header?)",
    )


def _reply_failure(exc: BaseException) -> str | None:
    """What was wrong with the reply, when the failure was the reply's."""
    if isinstance(exc, aiohttp.ClientResponseError):
        lines = str(exc.message or exc.status).splitlines() or ["no status line"]
        detail = lines[0][:200].rstrip(": ").lower()
        return f"the reply is not valid HTTP ({detail})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without replying"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the reply's body was cut short or malformed"
    return None
