"""A fast loopback receiver for the delivery benchmarks, run as its own process.

    python -m benchmarks.receiver [--hosts 127.0.0.1,127.0.0.2]

It listens on one port on every given loopback address (uvloop, aiohttp's low-level
server, no router, no access log), prints ``READY <port>`` and serves until stdin
closes or SIGTERM. The first path segment is the *tag* the request is counted under:

* ``/slow?s=10``: sleeps ``s`` seconds before answering (a destination that hangs);
* any other path: answers ``200 OK`` at once;
* a ``due=<unix time>`` query parameter records ``arrival - due`` (latency);
* every request records its arrival time (``time.time()``) and ``Postback-Id``.

Control paths (JSON): ``/__summary`` (per tag: count, distinct ids, first and last
arrival), ``/__arrivals?tag=x`` (arrival times), ``/__latency?tag=x`` (seconds), ``/__ids?tag=x``
(each ``Postback-Id``'s first arrival),
``/__reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass, field

import uvloop
from aiohttp import web

OK = b"OK"


@dataclass
class Tally:
    """What one tag has seen."""

    arrivals: array[float] = field(default_factory=lambda: array("d"))
    latencies: array[float] = field(default_factory=lambda: array("d"))
    ids: set[str] = field(default_factory=set)
    by_id: dict[str, float] = field(default_factory=dict)  # Postback-Id -> first arrival

    def summary(self) -> dict[str, float | int | None]:
        return {
            "count": len(self.arrivals),
            "distinct": len(self.ids),
            "first": self.arrivals[0] if self.arrivals else None,
            "last": self.arrivals[-1] if self.arrivals else None,
        }


class Receiver:
    """Counts requests per tag and answers them (slowly on ``/slow``)."""

    def __init__(self) -> None:
        self.tallies: defaultdict[str, Tally] = defaultdict(Tally)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        now = time.time()
        path = request.path
        if path.startswith("/__"):
            return self.control(path, request.query.get("tag", ""))
        tally = self.tallies[path[1:].split("/", 1)[0]]
        tally.arrivals.append(now)
        delivery = request.headers.get("Postback-Id", "")
        tally.ids.add(delivery)
        tally.by_id.setdefault(delivery, now)
        if "due=" in request.query_string:
            tally.latencies.append(now - float(request.query["due"]))
        if path == "/slow":
            await asyncio.sleep(float(request.query.get("s", "10")))
        return web.Response(body=OK)

    def control(self, path: str, tag: str) -> web.Response:
        """The figures, as JSON, or a reset."""
        body: object
        if path == "/__summary":
            body = {t: v.summary() for t, v in self.tallies.items()}
        elif path == "/__arrivals":
            body = self.tallies[tag].arrivals.tolist()
        elif path == "/__latency":
            body = self.tallies[tag].latencies.tolist()
        elif path == "/__ids":
            body = self.tallies[tag].by_id
        elif path == "/__reset":
            self.tallies.clear()
            body = {"reset": True}
        else:
            return web.Response(status=404, text="unknown control path")
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def serve(hosts: list[str], port: int) -> None:
    """Listen on ``port`` of every host until SIGTERM, SIGINT or stdin's end."""
    loop = asyncio.get_running_loop()
    server = web.Server(Receiver().handle, access_log=None)
    port = port or free_port(hosts[0])
    listeners = [
        await loop.create_server(server, host, port, reuse_address=True, backlog=1024)
        for host in hosts
    ]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: os.read(sys.stdin.fileno(), 1) or stop.set())
    print(f"READY {port}", flush=True)
    await stop.wait()
    for listener in listeners:
        listener.close()
    await server.shutdown(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    uvloop.run(serve(args.hosts.split(","), args.port))


if __name__ == "__main__":
    main()
