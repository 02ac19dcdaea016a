"""Ingest: events per second through the HTTP API, in batches of 100, each event fanning
out to 3 postbacks, on SQLite and on PostgreSQL; then the same with a CEL condition on
every postback (each true for these events, so the fan-out is the same), database by
database beside the run without, and the ratio of the two (target: at most 15 % fewer).

The API runs under uvicorn in a process of its own (``benchmarks.apiserver``); an aiohttp
client keeps a few batches in flight (one batch encoded before the clock starts, each
body that template with its own event ids put in, so the supply never runs out). The
figure is events accepted (HTTP 202) per second after a warm-up.

    python -m benchmarks --only ingest
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from benchmarks import common
from benchmarks.receiver import free_port
from postback.config import Settings
from postback.domain.records import Event, EventTopic, Postback, PostbackConfig, PostbackKind
from postback.service.usecases import Service

NAME = "ingest"
BATCH = 100
FAN_OUT = 3
IN_FLIGHT = 4
ADMIN_KEY = "pbk_bench_operator_key"
MODES = {"smoke": (0.5, 1.5), "quick": (1.0, 5.0), "full": (2.0, 15.0)}  # warm-up, measured
URLS = (
    "https://partner-a.example/pb?action={ActionId}&payout={Payout}&status={Status}",
    "https://partner-b.example/conv?id={ActionId}&amount={Amount}&oid={Oid}&cur={Currency}",
    "https://partner-c.example/track/{ActionId}?event={EventDate}&sub={SubId1}",
)
# One per postback, as a partner would write them (the spec's examples): all hold here.
CONDITIONS = (
    'Payout >= 10.0 && Currency == "USD"',
    'CampaignId in ["1234", "5678"]',
    'type != "action.modified" || DeltaPayout != 0.0',
)
CONDITION_TARGET = 0.85  # events/s with conditions over events/s without


@contextlib.contextmanager
def api_server(url: str) -> Iterator[str]:
    """``benchmarks.apiserver`` on a free loopback port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "POSTBACK_DATABASE_URL": url, "POSTBACK_ADMIN_KEY": ADMIN_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.apiserver", str(port)], env=env, cwd=common.ROOT
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_pid(base: str) -> int | None:
    """The pid of the process listening on the API's port (for its CPU time)."""
    port = int(base.rsplit(":", 1)[1])
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")  # noqa: SIM115
                if b"benchmarks.apiserver" in cmd and str(port).encode() in cmd:
                    return int(entry)
    return None


NUMBER = "~batch~"  # where each batch's number goes in the encoded template


def bodies(partner: str, tag: str) -> Iterator[bytes]:
    """Encoded batches of ``BATCH`` events for the partner, without end, event ids unique.

    One batch is encoded up front; each body is that template with its batch number put
    in by one ``bytes.replace`` (tens of microseconds for 100 events), so the client's
    cost stays small and no rate the API reaches can use the supply up: a list sized in
    advance would cap the figure at its own size."""
    at = (common.utcnow() + timedelta(days=1)).isoformat()
    template = json.dumps(
        [
            {
                "id": f"{tag}-{NUMBER}-{i}",
                "type": "action.tracked",
                "occurred_at": at,
                "data": {
                    "MediaPartnerId": partner,
                    "CampaignId": "1234",
                    "ActionTrackerId": "5678",
                    "ActionId": f"1000.{NUMBER}.{i}",
                    "Payout": "12.50",
                    "Amount": "149.90",
                    "Currency": "USD",
                    "Oid": f"ORD-{NUMBER}-{i}",
                    "SubId1": "homepage",
                },
            }
            for i in range(BATCH)
        ]
    ).encode()
    number = NUMBER.encode()
    for b in itertools.count():
        yield template.replace(number, str(b).encode())


async def post_batches(base: str, batches: Iterator[bytes], warmup: float, seconds: float) -> dict:
    """Post batches with ``IN_FLIGHT`` in flight; count the events of batches accepted
    within the measured window (after the warm-up)."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    queue = iter(batches)
    began = time.perf_counter()
    start, end = began + warmup, began + warmup + seconds
    stats: dict[str, Any] = {"events": 0, "errors": 0, "batch_ms": []}
    async with aiohttp.ClientSession(base, headers=headers) as session:

        async def sender() -> None:
            for body in queue:
                sent = time.perf_counter()
                if sent >= end:
                    return
                async with session.post("/v1/events", data=body) as reply:
                    await reply.read()
                    ok = reply.status == 202
                done = time.perf_counter()
                if start <= done <= end:
                    stats["events"] += BATCH if ok else 0
                    stats["errors"] += not ok
                    stats["batch_ms"].append((done - sent) * 1000)

        await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    return stats


async def one_run(
    kind: str, mode: str, conditions: bool = False, timing: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Ingest on a fresh database of ``kind`` for the mode's warm-up + measured seconds
    (or ``timing``'s); with ``conditions``, every postback carries one of ``CONDITIONS``."""
    warmup, seconds = timing or MODES[mode]
    async with common.world(kind) as w:
        for k, url in enumerate(URLS):
            await w.postback(f"p{k}", url, condition=CONDITIONS[k] if conditions else None)
        batches = bodies(w.partner_id, kind)
        with api_server(w.url) as base:
            await common.until(lambda: _healthy(base), 30, every=0.1)
            pid = server_pid(base)
            cpu0 = common.cpu_seconds(pid) if pid else 0.0
            label = " with conditions" if conditions else ""
            common.say(f"ingest: {kind}{label}, {warmup + seconds:g} s")
            stats = await post_batches(base, batches, warmup, seconds)
            cpu = (common.cpu_seconds(pid) if pid else 0.0) - cpu0
        stored = await w.sql("SELECT COUNT(*) FROM deliveries")
    return _figures(kind, stats, seconds, cpu, stored)


def _figures(kind: str, stats: dict, seconds: float, cpu: float, stored: int) -> dict[str, Any]:
    events = stats["events"]
    return {
        "database": kind,
        "events": events,
        "errors": stats["errors"],
        "seconds": seconds,
        "events_per_s": round(events / seconds, 1),
        "deliveries_per_s": round(events * FAN_OUT / seconds, 1),
        "batch_ms_p50": round(common.percentile(stats["batch_ms"], 0.5), 1),
        "batch_ms_p99": round(common.percentile(stats["batch_ms"], 0.99), 1),
        "server_cpu_ms_per_event": round(cpu * 1000 / max(1, events), 3),
        "deliveries_stored": stored,
    }


def fan_out_cpu(rounds: int = 3000) -> dict[str, float]:
    """CPU microseconds per event of matching-to-deliveries (``Service._fan_out``: the
    conditions, then the renders) for the benchmark's event and 3 postbacks, in this
    process, without and with the conditions. CPU time, so a busy machine skews it less
    than the HTTP runs' wall-clock rates."""
    event_data = json.loads(next(bodies("partner", "cpu")))[0]
    event = Event(
        "cpu-1",
        EventTopic.ACTION_TRACKED,
        datetime.fromisoformat(event_data["occurred_at"]),
        event_data["data"],
    )
    service = Service(None, Settings(database_url="sqlite:///unused.db"))  # type: ignore[arg-type]
    now = common.utcnow()
    out = {}
    for label, conditions in (("without", (None,) * len(URLS)), ("with", CONDITIONS)):
        postbacks = [
            Postback(f"pb{k}", "owner", PostbackConfig(PostbackKind.ACTION_LIFECYCLE, url,
                                                      condition=c), now, now)
            for k, (url, c) in enumerate(zip(URLS, conditions, strict=True))
        ]  # fmt: skip
        service._fan_out("[0]", event, postbacks)  # compile the templates and conditions first
        start = time.process_time()
        for _ in range(rounds):
            service._fan_out("[0]", event, postbacks)
        out[label] = round((time.process_time() - start) / rounds * 1e6, 1)
    return out


async def _healthy(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{base}/healthz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


async def run(mode: str) -> dict[str, Any]:
    """Both databases, one after the other; each without, then with conditions."""
    common.check_mode(mode)
    runs, with_conditions = {}, {}
    for kind in ("sqlite", "postgresql"):
        runs[kind] = await one_run(kind, mode)
        with_conditions[kind] = await one_run(kind, mode, conditions=True)
    ratio = {
        kind: round(with_conditions[kind]["events_per_s"] / runs[kind]["events_per_s"], 3)
        for kind in runs
        if runs[kind]["events_per_s"]
    }
    return {
        "benchmark": NAME,
        "mode": mode,
        "batch": BATCH,
        "fan_out": FAN_OUT,
        "in_flight": IN_FLIGHT,
        "runs": runs,
        "conditions": list(CONDITIONS),
        "runs_with_conditions": with_conditions,
        "conditions_ratio": ratio,
        "target_met": bool(ratio) and min(ratio.values()) >= CONDITION_TARGET,
        "fan_out_cpu_us_per_event": fan_out_cpu(300 if mode == "smoke" else 3000),
    }
