"""The latency benchmark's producer, run as its own process: stores events due now, with
their deliveries, at a steady rate through :meth:`postback.storage.interfaces.Store.ingest`.

    python -m benchmarks.injector DATABASE_URL POSTBACK_ID OWNER_ID URL_PREFIX RATE SECONDS

Every 10 ms it stores the events owed so far in one transaction (which NOTIFYs the
workers), each with one delivery to ``URL_PREFIX`` + its due time as a unix timestamp
(so the receiver can tell the latency). The requests are rendered here, not matched and
rendered by the service: the ingest benchmark measures that; this one leaves the CPU to
the worker. Prints JSON: events, seconds, the achieved rate, the p99 and slowest ingest, and each
batch's first event number, size, due time and commit time (for the tail breakdown).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import uvloop

from postback.domain.records import Event, EventTopic, HttpMethod, NewDelivery, RenderedRequest
from postback.storage import Store, open_store
from postback.storage.interfaces import IngestItem

TICK = 0.01


RUN = f"{time.time_ns():x}"  # event ids are unique across runs on one database


def items(target: tuple[str, str, str], start: int, count: int, now: datetime) -> list[IngestItem]:
    """``count`` action.tracked events occurring (so due) ``now``, one delivery each."""
    postback, owner, prefix = target
    url = f"{prefix}{now.timestamp():.6f}&a="
    ids = [f"{RUN}-{start + i}" for i in range(count)]
    return [
        IngestItem(
            Event(f"lat-{key}", EventTopic.ACTION_TRACKED, now, {"ActionId": key}),
            (
                NewDelivery(
                    postback_id=postback,
                    owner_id=owner,
                    request=RenderedRequest(HttpMethod.GET, f"{url}{key}", (), None),
                    due_at=now,
                    order_key=key,
                    action_id=key,
                ),
            ),
        )
        for key in ids
    ]


async def inject(
    store: Store, target: tuple[str, str, str], rate: float, seconds: float
) -> dict[str, Any]:
    """Store ``rate`` events per second for ``seconds``; report what was achieved."""
    sent, took, batches = 0, [], []
    began = time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        owed = int(rate * elapsed) - sent
        if owed > 0:
            now = datetime.now(UTC)
            t = time.perf_counter()
            await store.ingest(items(target, sent, owed, now))
            took.append(time.perf_counter() - t)
            batches.append((sent, owed, now.timestamp(), time.time()))
            sent += owed
        await asyncio.sleep(TICK)
    total = time.perf_counter() - began
    took.sort()
    return {
        "events": sent,
        "seconds": total,
        "rate": sent / total,
        "slowest_ingest_s": took[-1] if took else 0.0,
        "p99_ingest_s": took[int(len(took) * 0.99)] if took else 0.0,
        "run": RUN,
        "batches": batches,  # (first event number, count, due, committed), unix times
    }


async def main_async(url: str, target: tuple[str, str, str], rate: float, seconds: float) -> None:
    store = open_store(url)
    try:
        figures = await inject(store, target, rate, seconds)
    finally:
        await store.close()
    print(json.dumps(figures), flush=True)


def main() -> None:
    url, postback, owner, prefix, rate, seconds = sys.argv[1:7]
    uvloop.run(main_async(url, (postback, owner, prefix), float(rate), float(seconds)))


if __name__ == "__main__":
    main()
