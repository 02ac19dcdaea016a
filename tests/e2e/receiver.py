"""Real receivers on loopback for the delivery tests: an aiohttp app whose replies are
scripted per path, and raw TCP servers that misbehave below HTTP."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Script:
    """Replies for one path, used in turn; the last one repeats."""

    replies: list[tuple[int, str, dict[str, str]]] = field(
        default_factory=lambda: [(200, "OK", {})]
    )
    delay: float = 0.0


@dataclass
class Seen:
    at: float
    method: str
    path_qs: str
    headers: dict[str, str]
    body: str


class Receiver:
    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.seen: list[Seen] = []
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(
        self, path: str, *replies: tuple[int, str, dict[str, str]], delay: float = 0.0
    ) -> None:
        self.scripts[path] = Script(list(replies) or [(200, "OK", {})], delay)

    def on(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path_qs.split("?")[0] == path]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.seen.append(
            Seen(time.monotonic(), request.method, request.path_qs, dict(request.headers), body)
        )
        script = self.scripts.get(request.path, Script())
        if script.delay:
            await asyncio.sleep(script.delay)
        status, text, headers = script.replies[0]
        if len(script.replies) > 1:
            script.replies.pop(0)
        return web.Response(status=status, text=text, headers=headers)


@asynccontextmanager
async def receiver(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)  # https if given
    await site.start()
    rec.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield rec
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(reply: bytes | None) -> AsyncIterator[int]:
    """A TCP server that reads the request, then writes ``reply`` (or nothing) and closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if reply:
            writer.write(reply)
            await writer.drain()
        writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
