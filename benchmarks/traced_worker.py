"""``postback worker`` with timestamps along the path, for the latency benchmark's tail,
and with variants of its tuning, for side-by-side runs.

    [POSTBACK_TRACE_FILE=trace.json] [POSTBACK_BENCH_VARIANT=gc0=20000,claim_pause=0.005] \
        python -m benchmarks.traced_worker

A variant changes the worker's options (any :class:`WorkerOptions` field by name), the
garbage collector (``gc0``, ``gc1``, ``gc2``: its thresholds) or a setting
(``POSTBACK_...=value``), so a change can be measured against the code as it is before
it is made for good.

The same worker as ``python -m postback worker`` (same settings, same code), with its
store and transport wrapped to note, on the wall clock (``time.time()``, shared with the
injector and the receiver): every NOTIFY received, every return from waiting for work,
every claim (start, end, the deliveries it took and their URLs), the start and end of
every send, and every write of results (start, end, the deliveries in it). Besides, the
garbage collector's pauses (``gc.callbacks``) and the event loop's lag (a task that asks
to sleep 5 ms and notes how late it wakes). On exit the trace goes to
``$POSTBACK_TRACE_FILE`` as JSON; :mod:`benchmarks.tail` joins it with the injector's
commits and the receiver's arrivals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from postback.cli import worker as cli
from postback.config import Network, load
from postback.delivery.queue import AttemptResult, Claim
from postback.delivery.transport import AioHttpTransport, SendResult
from postback.delivery.worker import WorkerOptions
from postback.domain.records import RenderedRequest
from postback.storage import Store, open_store

LAG_TICK = 0.005


class Trace:
    """What the wrappers note, as plain lists (cheap to append to, easy to dump)."""

    def __init__(self) -> None:
        self.notifies: list[float] = []
        self.woke: list[float] = []
        self.claims: list[tuple[float, float, list[str], list[str]]] = []
        self.sends: dict[str, tuple[float, float]] = {}
        self.flushes: list[tuple[float, float, list[str]]] = []
        self.gc: list[tuple[float, float, int]] = []
        self.lag: list[tuple[float, float]] = []
        self._gc_start = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc_start
            self.gc.append((time.time(), took, int(info["generation"])))

    async def watch_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(LAG_TICK)
            late = loop.time() - asked - LAG_TICK
            if late > 0.001:
                self.lag.append((time.time(), late))

    def dump(self, path: str) -> None:
        data = {
            "notifies": self.notifies,
            "woke": self.woke,
            "claims": self.claims,
            "sends": self.sends,
            "flushes": self.flushes,
            "gc": self.gc,
            "lag": self.lag,
        }
        with open(path, "w") as out:
            json.dump(data, out)


TRACE = Trace()


def traced_store(url: str, *, synchronous_commit: bool = True) -> Store:
    """The store, with claim, wait and complete noted (and NOTIFYs, on PostgreSQL)."""
    store = open_store(url, synchronous_commit=synchronous_commit)
    claim, wait, complete = store.claim, store.wait_for_work, store.complete
    on_notify = getattr(store, "_on_notify", None)

    async def traced_claim(*args: Any, **kw: Any) -> list[Claim]:
        start = time.time()
        found = await claim(*args, **kw)
        ids = [c.delivery_id for c in found]
        TRACE.claims.append((start, time.time(), ids, [c.request.url for c in found]))
        return found

    async def traced_wait(max_wait: float) -> None:
        await wait(max_wait)
        TRACE.woke.append(time.time())

    async def traced_complete(results: Sequence[AttemptResult], again: bool = False) -> None:
        start = time.time()
        await complete(results, again)
        TRACE.flushes.append((start, time.time(), [r.attempt.delivery_id for r in results]))

    def traced_notify(*args: object) -> None:
        TRACE.notifies.append(time.time())
        assert on_notify is not None
        on_notify(*args)

    store.claim = traced_claim  # type: ignore[method-assign]
    store.wait_for_work = traced_wait  # type: ignore[method-assign]
    store.complete = traced_complete  # type: ignore[method-assign]
    if on_notify is not None:
        store._on_notify = traced_notify  # type: ignore[attr-defined]
    return store


class TracedTransport(AioHttpTransport):
    async def send(
        self, request: RenderedRequest, delivery_id: str, allowed: tuple[Network, ...] = ()
    ) -> SendResult:
        start = time.time()
        try:
            return await super().send(request, delivery_id, allowed)
        finally:
            TRACE.sends[delivery_id] = (start, time.time())


def variant(spec: str) -> tuple[dict[str, float], dict[str, int]]:
    """``name=value,...`` as (worker options, GC thresholds by generation)."""
    options: dict[str, float] = {}
    thresholds: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if name.startswith("POSTBACK_"):
            os.environ[name] = value
        elif name in ("gc0", "gc1", "gc2"):
            thresholds[name] = int(value)
        elif name in {f.name for f in dataclasses.fields(WorkerOptions)}:
            options[name] = float(value) if "." in value else int(value)
        else:
            raise SystemExit(f"POSTBACK_BENCH_VARIANT: unknown setting {name!r}")
    return options, thresholds


def apply_variant(spec: str) -> None:
    options, thresholds = variant(spec)
    if thresholds:
        now = gc.get_threshold()
        chosen = [thresholds.get(f"gc{i}", now[i]) for i in range(3)]

        def collect_as_chosen() -> None:  # instead of the worker's own tuning
            gc.freeze()
            gc.set_threshold(*chosen)

        cli.collect_less = collect_as_chosen
    if options:
        original = cli.options_for

        def tuned(settings: Any) -> WorkerOptions:
            return dataclasses.replace(original(settings), **options)  # type: ignore[arg-type]

        cli.options_for = tuned


def main() -> None:
    apply_variant(os.environ.get("POSTBACK_BENCH_VARIANT", ""))
    path = os.environ.get("POSTBACK_TRACE_FILE")
    if path is None:
        cli.run(load())
        return
    gc.callbacks.append(TRACE.on_gc)
    cli.open_store = traced_store  # type: ignore[assignment]
    cli.AioHttpTransport = TracedTransport  # type: ignore[misc]
    original = cli.run_until_signalled

    async def with_lag_watch(settings: Any) -> None:
        watcher = asyncio.create_task(TRACE.watch_lag())
        try:
            await original(settings)
        finally:
            watcher.cancel()

    cli.run_until_signalled = with_lag_watch  # type: ignore[assignment]
    try:
        cli.run(load())
    finally:
        TRACE.dump(path)


if __name__ == "__main__":
    main()
