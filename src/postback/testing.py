"""Helpers shipped for tests: a clock moved by hand, a resolver that stays on the machine."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime, timedelta

from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult


class MovableClock:
    """Real time plus an offset that tests advance, so a retry due in an hour is due now
    without waiting an hour. Callable like :func:`postback.domain.clock.utcnow`."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class LocalResolver(AbstractResolver):
    """A resolver for tests that never asks a DNS server: ``localhost`` (through the
    system) and IP literals resolve; any other name is NXDOMAIN. ``asked`` lists every
    name it was given, so tests can check what reached the resolver."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self._system = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Answer ``localhost`` and literals; raise ``socket.gaierror`` for the rest."""
        self.asked.append(host)
        if host.lower().rstrip(".") == "localhost":
            return await self._system.resolve("localhost", port, family)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        inet = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=inet,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        """Close the system resolver used for ``localhost``."""
        await self._system.close()
