"""The sender side by side: CPU per request and requests/s of each HTTP client candidate.

Every candidate sends the same requests, the worker's shape (alternately a GET with the
query in the URL and a POST with a small JSON body, both with ``Postback-Id`` and
``User-Agent``, keep-alive, 512 in flight over at most 50 connections), to the same
loopback receiver (``benchmarks/receiver.py``), each run in a process of its own on
uvloop; its CPU is the child's user + system time (all its threads) over the timed
sends only, so start-up and imports do not count. The candidates run in rounds, in an
order that rotates every round, so that each ratio compares runs taken minutes apart
at most on a machine others share. Per candidate: median CPU ms per request and
requests/s, and its ratio to ``transport-aiohttp`` (the transport as it was) and to
``aiohttp`` (the bare client of the ceiling), min/median/max over the rounds.

Candidates (``--only``):

* ``aiohttp``: a bare ``ClientSession`` as ``benchmarks/client.py`` uses it (the ceiling);
* ``transport-aiohttp``: :class:`postback.delivery.transport.AioHttpTransport`'s ``send``;
* ``aiohttp-tuned``: a ``ClientSession`` with every per-request convenience off that can
  be turned off (no cookie jar, no decompression, no ``Accept-Encoding``, one timeout
  object, the body read once up to the cap);
* ``aiohttp-lowlevel``: aiohttp's connector and ``ClientRequest`` driven directly,
  without ``ClientSession._request``;
* ``transport-lean``: :class:`postback.delivery.transport.LeanTransport`'s ``send``;
* ``lean``: :class:`postback.delivery.sender.Client` alone, request heads built once;
* ``pyreqwest``, ``rnet``, ``curl-cffi``: Rust- and C-backed clients from PyPI, when
  installed (``pip install pyreqwest rnet curl-cffi``; not dependencies of Postback).

    python -m benchmarks.sender_bench [--rounds 5] [--requests 20000] [--only ...]
    python -m benchmarks.sender_bench --profile transport-lean   # py-spy, one run
    python -m benchmarks.sender_bench --worker [--rounds 5] [--requests 20000]

``--worker`` compares whole deliveries instead: one ``postback worker`` process draining
``--requests`` seeded deliveries on PostgreSQL (as the throughput benchmark does) with
``POSTBACK_SENDER=aiohttp`` and with ``lean``, and the ceiling's bare client
(``benchmarks/client.py``, GET only, like the seeded deliveries) on its own receiver,
in rotating rounds: worker CPU per delivery over the bare client's CPU per request
(issue 15's target: at most 1.4) and deliveries/s over the ceiling's requests/s.

``--in-flight 50`` sends at most 50 at once, all on their own connection, as the worker's
lanes do (at most ``POSTBACK_PER_HOST_CONCURRENCY`` sends to one destination at once);
the default, 512 over 50 connections, is the ceiling's shape, where requests also wait
for a connection inside the client.

Writes ``benchmarks/results/sender.json`` (or ``$POSTBACK_BENCH_RESULTS``): one entry per
``--in-flight`` and one for ``--worker``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import common
from postback.config import Settings
from postback.delivery.transport import USER_AGENT

NAME = "sender"
CONCURRENCY = 512
PER_HOST = 50
CAP = 64 * 1024
BODY = (
    '{"event": "purchase", "action_id": "%d", "amount": "19.90", "currency": "EUR", '
    '"partner": "bench", "status": "approved", "ts": "2026-12-02T12:00:00Z"}'
)
BASELINE = "transport-aiohttp"
CEILING = "aiohttp"
CANDIDATES = (
    "aiohttp",
    "transport-aiohttp",
    "aiohttp-tuned",
    "aiohttp-lowlevel",
    "transport-lean",
    "lean",
    "pyreqwest",
    "rnet",
    "curl-cffi",
)
OPTIONAL = {"pyreqwest": "pyreqwest", "rnet": "rnet", "curl-cffi": "curl_cffi"}

Shape = tuple[str, str, dict[str, str], bytes | None]  # method, URL, headers, body
SendOne = Callable[[Shape], Awaitable[int]]  # the reply's status


def shape(base: str, i: int) -> Shape:
    """Request ``i``: even a GET, odd a POST of JSON; both tagged like the worker's."""
    headers = {"User-Agent": USER_AGENT, "Postback-Id": f"dlv_sender_{i}"}
    if i % 2 == 0:
        return "GET", f"{base}/ok?n={i}&a=purchase&amount=19.90", headers, None
    headers["Content-Type"] = "application/json"
    return "POST", f"{base}/ok?n={i}", headers, (BODY % i).encode()


# -- the candidates, each: async context manager yielding a send function ---------------
async def run_candidate(name: str, base: str, n: int, in_flight: int) -> dict[str, float]:
    """Send ``n`` requests with candidate ``name``, ``in_flight`` at once; count, seconds,
    CPU seconds, failures."""
    async with FACTORIES[name](base) as send:
        await send(shape(base, 0))  # one warm-up request: connection, imports
        slots = asyncio.Semaphore(in_flight)
        failures = 0

        async def one(i: int) -> None:
            nonlocal failures
            try:
                failures += await send(shape(base, i)) != 200
            except Exception:
                failures += 1
            finally:
                slots.release()

        tasks: set[asyncio.Task[None]] = set()
        cpu = time.process_time()  # every thread of this process (the Rust clients have some)
        began = time.perf_counter()
        for i in range(1, n + 1):
            await slots.acquire()
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu
    return {"requests": n, "seconds": seconds, "cpu_seconds": cpu, "failures": failures}


class _Candidate:
    """An async context manager around a client: ``async with X(base) as send``."""

    def __init__(self, base: str) -> None:
        self.base = base

    async def __aenter__(self) -> SendOne:
        raise NotImplementedError

    async def __aexit__(self, *exc: object) -> None:
        return None


class BareAioHttp(_Candidate):
    async def __aenter__(self) -> SendOne:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST)
        self.session = aiohttp.ClientSession(connector=connector)

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            async with self.session.request(method, url, headers=headers, data=body) as reply:
                await reply.read()
                return reply.status

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


class TunedAioHttp(_Candidate):
    async def __aenter__(self) -> SendOne:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST, ttl_dns_cache=30)
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=15, sock_connect=5),
            skip_auto_headers=("Accept-Encoding", "Content-Type"),
            trust_env=False,
        )

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            async with self.session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            ) as reply:
                await reply.content.read(CAP + 1)
                return reply.status

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


class LowLevelAioHttp(_Candidate):
    """aiohttp's own pieces (connector, ``ClientRequest``, ``ClientResponse``) without the
    session's request method: what aiohttp costs below its conveniences."""

    async def __aenter__(self) -> SendOne:
        import aiohttp
        from aiohttp.client_reqrep import ClientRequest
        from aiohttp.helpers import TimerNoop
        from yarl import URL

        loop = asyncio.get_running_loop()
        self.connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_HOST)
        self.session = aiohttp.ClientSession(connector=self.connector, connector_owner=False)
        timeout = aiohttp.ClientTimeout(total=15, sock_connect=5)
        timer = TimerNoop()
        urls: dict[str, URL] = {}

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            parsed = urls.get(url) or URL(url, encoded=True)
            request = ClientRequest(
                method,
                parsed,
                headers=headers,
                data=body,
                skip_auto_headers=("Accept-Encoding", "Content-Type"),
                loop=loop,
                response_class=aiohttp.ClientResponse,
                session=self.session,
                timer=timer,
            )
            conn = await self.connector.connect(request, [], timeout)
            assert conn.protocol is not None
            conn.protocol.set_response_params(
                timer=timer, read_until_eof=False, auto_decompress=False, read_timeout=15
            )
            reply = await request.send(conn)
            await reply.start(conn)
            await reply.content.read(CAP + 1)
            status = reply.status
            reply.release()
            return status

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        await self.connector.close()


class TransportCandidate(_Candidate):
    """One of Postback's transports, sending as the worker does."""

    kind = "aiohttp"

    async def __aenter__(self) -> SendOne:
        from postback.delivery.transport import AioHttpTransport, LeanTransport
        from postback.domain.records import HttpMethod, RenderedRequest

        settings = Settings(
            allowed_networks=(ip_network("127.0.0.0/8"),), per_host_concurrency=PER_HOST
        )
        cls = AioHttpTransport if self.kind == "aiohttp" else LeanTransport
        self.transport = cls(settings)

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            pairs = tuple((k, v) for k, v in headers.items() if k != "Postback-Id")
            request = RenderedRequest(
                HttpMethod(method), url, pairs, None if body is None else body.decode()
            )
            sent = await self.transport.send(request, headers["Postback-Id"])
            return 0 if sent.reply is None else sent.reply.status

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.close()


class LeanTransportCandidate(TransportCandidate):
    kind = "lean"


class LeanClient(_Candidate):
    """The lean client alone, heads built by hand once per request (no guard, no
    header checks): the floor under ``transport-lean``."""

    async def __aenter__(self) -> SendOne:
        import ssl

        from postback.delivery.sender import Client

        async def resolve(host: str, port: int) -> list[str]:
            return [host]

        self.client = Client(resolve, ssl.create_default_context(), PER_HOST, 5.0)
        host, _, port = self.base.removeprefix("http://").partition(":")
        route = (False, host, int(port), None)
        loop = asyncio.get_running_loop()

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            target = url[len(self.base) :]
            lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            if body is not None:
                lines.append(f"Content-Length: {len(body)}")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode()
            answer = await self.client.request(
                route, method, head, body or b"", cap=CAP, deadline=loop.time() + 15
            )
            return answer.status

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()


class PyReqwest(_Candidate):
    async def __aenter__(self) -> SendOne:
        from pyreqwest.client import ClientBuilder

        self.client = (
            ClientBuilder()
            .max_connections(PER_HOST)
            .follow_redirects(False)
            .gzip(False)
            .default_cookie_store(False)
            .build()
        )

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            builder = self.client.request(method, url).headers(headers)
            if body is not None:
                builder = builder.body_bytes(body)
            reply = await builder.build().send()
            await reply.bytes()
            return int(reply.status)

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()


class Rnet(_Candidate):
    async def __aenter__(self) -> SendOne:
        import rnet

        self.client = rnet.Client(pool_max_size=PER_HOST, allow_redirects=False)
        methods = {"GET": rnet.Method.GET, "POST": rnet.Method.POST}

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            if body is None:
                reply = await self.client.request(methods[method], url, headers=headers)
            else:
                reply = await self.client.request(methods[method], url, headers=headers, body=body)
            await reply.bytes()
            status = reply.status
            return int(status.as_int() if hasattr(status, "as_int") else status)

        return send


class CurlCffi(_Candidate):
    async def __aenter__(self) -> SendOne:
        from curl_cffi import AsyncSession

        self.session = AsyncSession(max_clients=PER_HOST, allow_redirects=False)

        async def send(req: Shape) -> int:
            method, url, headers, body = req
            reply = await self.session.request(method, url, headers=headers, data=body)  # type: ignore[arg-type]
            return int(reply.status_code)

        return send

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


FACTORIES: dict[str, type[_Candidate]] = {
    "aiohttp": BareAioHttp,
    "transport-aiohttp": TransportCandidate,
    "aiohttp-tuned": TunedAioHttp,
    "aiohttp-lowlevel": LowLevelAioHttp,
    "transport-lean": LeanTransportCandidate,
    "lean": LeanClient,
    "pyreqwest": PyReqwest,
    "rnet": Rnet,
    "curl-cffi": CurlCffi,
}


# -- the runner: rounds of child processes ----------------------------------------------
def available(names: list[str]) -> list[str]:
    """The candidates whose package is installed here (the optional ones may not be)."""
    return [n for n in names if n not in OPTIONAL or importlib.util.find_spec(OPTIONAL[n])]


def child_run(
    rec: common.ReceiverProcess, name: str, n: int, in_flight: int, profile: str = ""
) -> dict[str, Any]:
    """One candidate in its own process; its figures, its CPU and the receiver's."""
    cmd = [sys.executable, "-m", "benchmarks.sender_bench", "--child", name, rec.url(""), str(n)]
    cmd += ["--in-flight", str(in_flight)]
    if profile:
        spy = str(Path(sys.executable).with_name("py-spy"))
        cmd = [spy, "record", "--rate", "250", "--format", "raw", "-o", profile, "--", *cmd]
    rec_cpu = rec.cpu()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=common.ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]  # py-spy adds its own
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["cpu_ms_per_request"] = figures["cpu_seconds"] * 1000 / n
    figures["requests_per_s"] = n / figures["seconds"]
    figures["receiver_cpu_ms_per_request"] = (rec.cpu() - rec_cpu) * 1000 / n
    return figures


def rotated(names: list[str], i: int) -> list[str]:
    """Round ``i``'s order: rotated by ``i``, reversed every other round."""
    k = i % len(names)
    order = names[k:] + names[:k]
    return order if i % 2 == 0 else order[::-1]


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "each": [round(v, 3) for v in values],
    }


def compare(names: list[str], rounds: int, n: int, in_flight: int) -> dict[str, Any]:
    """Every candidate once per round; figures and ratios per candidate."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with common.receiver() as rec:
        for i in range(rounds):
            for name in rotated(names, i):
                found = child_run(rec, name, n, in_flight)
                runs[name].append(found)
                common.say(
                    f"round {i + 1}/{rounds} {name}: {found['requests_per_s']:,.0f}/s, "
                    f"{found['cpu_ms_per_request']:.4f} ms CPU/request, "
                    f"{found['failures']} failures"
                )
                rec.reset()
    return {name: summary(name, runs) for name in names}


def summary(name: str, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    own = runs[name]
    out: dict[str, Any] = {
        "cpu_ms_per_request": round(statistics.median(r["cpu_ms_per_request"] for r in own), 4),
        "requests_per_s": round(statistics.median(r["requests_per_s"] for r in own), 1),
        "receiver_cpu_ms_per_request": round(
            statistics.median(r["receiver_cpu_ms_per_request"] for r in own), 4
        ),
        "failures": sum(int(r["failures"]) for r in own),
    }
    for other in (BASELINE, CEILING):
        if other in runs and other != name:
            pairs = list(zip(own, runs[other], strict=True))
            out[f"cpu_vs_{other}"] = spread(
                [a["cpu_ms_per_request"] / b["cpu_ms_per_request"] for a, b in pairs]
            )
            out[f"rate_vs_{other}"] = spread(
                [a["requests_per_s"] / b["requests_per_s"] for a, b in pairs]
            )
    return out


def print_table(result: dict[str, Any]) -> None:
    header = f"{'candidate':<18} {'CPU ms/req':>10} {'req/s':>8} "
    header += (
        f"{'CPU vs transport-aiohttp (min-max)':>36} {'CPU vs aiohttp':>16} {'rate vs aiohttp':>16}"
    )
    print(header)
    for name, r in result["candidates"].items():
        base = r.get(f"cpu_vs_{BASELINE}")
        ceil = r.get(f"cpu_vs_{CEILING}")
        rate = r.get(f"rate_vs_{CEILING}")
        shown = f"{base['median']:.3f} ({base['min']:.3f}-{base['max']:.3f})" if base else "1"
        print(
            f"{name:<18} {r['cpu_ms_per_request']:>10.4f} {r['requests_per_s']:>8,.0f} "
            f"{shown:>36} {ceil['median'] if ceil else 1:>16} {rate['median'] if rate else 1:>16}"
        )


# -- whole deliveries: a worker per sender against the ceiling --------------------------
WORKER_SIDES = ("ceiling", "aiohttp", "lean")


async def worker_side(side: str, n: int) -> dict[str, Any]:
    """One run of one side: the bare client, or a worker draining ``n`` deliveries."""
    from benchmarks import ceiling_bench
    from benchmarks.common import Batch, Drain

    with common.receiver() as rec:
        if side == "ceiling":
            found = ceiling_bench.client_run(rec, n)
            return {
                "valid": found["failures"] == 0,
                "per_s": n / found["seconds"],
                "cpu_ms": found["client_cpu_seconds"] * 1000 / n,
                "failures": found["failures"],
            }
        async with common.world("postgresql") as w:
            await w.postback("bench", rec.url("/ok?a={ActionId}"))
            due = common.start_due("quick")
            await common.seed(w, "t", Batch("bench", n, rec.url("/ok?n="), due))
            spec = Drain(["bench"], n, "ok", 1, {"POSTBACK_SENDER": side})
            figures = await common.drain(w, rec, spec, due)
            attempts = int(await w.sql("SELECT COUNT(*) FROM attempts"))
    return {
        # More attempts than deliveries: the worker shed some (a send seemed slow because
        # a process was not scheduled for a quarter second) and retried them after a
        # back-off; such a run measures the machine, not the sender.
        "valid": attempts == n,
        "attempts": attempts,
        "per_s": figures["deliveries_per_s"],
        "cpu_ms": figures["cpu_ms_per_delivery"]["workers"],
        "postgres_cpu_ms": figures["cpu_ms_per_delivery"]["postgres"],
        "failures": n - figures["delivered"],
        "sent_twice": figures["sent_twice"],
    }


async def compare_workers(rounds: int, n: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in WORKER_SIDES}
    for i in range(rounds):
        for side in rotated(list(WORKER_SIDES), i):
            found = await worker_side(side, n)
            runs[side].append(found)
            common.say(
                f"round {i + 1}/{rounds} {side}: {found['per_s']:,.0f}/s, "
                f"{found['cpu_ms']:.4f} ms CPU each, {found['failures']} failures"
                + ("" if found["valid"] else " (retries: left out)")
            )
    out: dict[str, Any] = {"runs": runs}
    for side in ("aiohttp", "lean"):
        out[side] = {
            "cpu_vs_ceiling": ratios(runs[side], runs["ceiling"], "cpu_ms"),
            "rate_vs_ceiling": ratios(runs[side], runs["ceiling"], "per_s"),
        }
    out["lean_vs_aiohttp"] = {
        "cpu": ratios(runs["lean"], runs["aiohttp"], "cpu_ms"),
        "rate": ratios(runs["lean"], runs["aiohttp"], "per_s"),
    }
    return out


def ratios(top: list[dict[str, Any]], bottom: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Round by round ``top / bottom`` of ``key``, over the rounds where both are valid."""
    pairs = [(a, b) for a, b in zip(top, bottom, strict=True) if a["valid"] and b["valid"]]
    if not pairs:
        return {"median": None, "min": None, "max": None, "each": [], "rounds_left_out": len(top)}
    found = spread([a[key] / b[key] for a, b in pairs])
    found["rounds_left_out"] = len(top) - len(pairs)
    return found


def print_workers(result: dict[str, Any]) -> None:
    for side in ("aiohttp", "lean"):
        cpu, rate = result[side]["cpu_vs_ceiling"], result[side]["rate_vs_ceiling"]
        print(
            f"worker with {side:<8} CPU per delivery / bare client's per request: "
            f"{cpu['median']} ({cpu['min']}-{cpu['max']}); "
            f"rate / ceiling: {rate['median']} ({rate['min']}-{rate['max']})"
        )
    both = result["lean_vs_aiohttp"]
    print(
        f"lean / aiohttp worker: CPU {both['cpu']['median']} "
        f"({both['cpu']['min']}-{both['cpu']['max']}), "
        f"rate {both['rate']['median']} ({both['rate']['min']}-{both['rate']['max']})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sender_bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--only", nargs="+", choices=CANDIDATES)
    parser.add_argument("--profile", choices=CANDIDATES, help="one py-spy run of a candidate")
    parser.add_argument("--worker", action="store_true", help="whole deliveries, see above")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=CONCURRENCY,
        help="requests at once (512: the ceiling's; 50: what the worker's lanes allow)",
    )
    parser.add_argument("--child", nargs=3, metavar=("NAME", "BASE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, base, n = args.child
        print(json.dumps(uvloop.run(run_candidate(name, base, int(n), args.in_flight))))
        return
    if args.profile:
        out = str(common.results_dir() / f"sender-{args.profile}.folded")
        with common.receiver() as rec:
            found = child_run(rec, args.profile, args.requests, args.in_flight, profile=out)
        common.say(f"{args.profile}: {found}; py-spy stacks in {out}")
        return
    began = time.perf_counter()
    if args.worker:
        found = common.read_result(NAME) or {"benchmark": NAME}
        found["worker"] = {
            "deliveries": args.requests,
            "rounds": args.rounds,
            "machine_load_before": Path("/proc/loadavg").read_text().split()[:3],
            **uvloop.run(compare_workers(args.rounds, args.requests)),
            "took_seconds": round(time.perf_counter() - began, 1),
        }
        common.write_result(NAME, found)
        print_workers(found["worker"])
        return
    names = available(list(args.only or CANDIDATES))
    result = {
        "requests": args.requests,
        "rounds": args.rounds,
        "in_flight": args.in_flight,
        "per_host_connections": PER_HOST,
        "machine_load_before": Path("/proc/loadavg").read_text().split()[:3],
        "candidates": compare(names, args.rounds, args.requests, args.in_flight),
        "took_seconds": 0.0,
    }
    result["took_seconds"] = round(time.perf_counter() - began, 1)
    found = common.read_result(NAME) or {"benchmark": NAME}
    found[f"in_flight_{args.in_flight}"] = result
    common.write_result(NAME, found)
    print_table(result)


if __name__ == "__main__":
    main()
