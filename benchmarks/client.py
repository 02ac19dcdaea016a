"""The bare client of the ceiling benchmark, run as its own process.

    python -m benchmarks.client URL_PREFIX N [--concurrency 512] [--per-host 50]

Sends ``N`` GET requests (``URL_PREFIX`` + a number) with uvloop and one keep-alive
aiohttp session, at most ``--concurrency`` at once over at most ``--per-host``
connections (the worker's and the transport's defaults), each with a ``Postback-Id``
and ``User-Agent`` header like the worker's. Prints JSON: requests, seconds, failures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
import uvloop

from postback.delivery.transport import USER_AGENT


async def send_all(prefix: str, n: int, concurrency: int, per_host: int) -> dict[str, float]:
    """Send every request; return the count, the seconds taken and the failures."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=per_host)
    slots = asyncio.Semaphore(concurrency)
    failures = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal failures
            headers = {"User-Agent": USER_AGENT, "Postback-Id": f"dlv_ceiling_{i}"}
            try:
                async with session.get(f"{prefix}{i}", headers=headers) as reply:
                    await reply.read()
                    failures += reply.status != 200
            except aiohttp.ClientError:
                failures += 1
            finally:
                slots.release()

        began = time.perf_counter()
        tasks = set()
        for i in range(1, n + 1):
            await slots.acquire()
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - began
    return {"requests": n, "seconds": seconds, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prefix")
    parser.add_argument("n", type=int)
    parser.add_argument("--concurrency", type=int, default=512)
    parser.add_argument("--per-host", type=int, default=50)
    args = parser.parse_args()
    figures = uvloop.run(send_all(args.prefix, args.n, args.concurrency, args.per_host))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
