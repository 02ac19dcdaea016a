"""Replay over HTTP sends finished deliveries again: a real worker beside the API on one
store, a receiver on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from postback.delivery.transport import transport_for
from postback.delivery.worker import Worker, WorkerOptions
from tests.apiclient import Api, running_api
from tests.e2e.receiver import receiver
from tests.e2e.rig import LOOPBACK


@asynccontextmanager
async def worker_beside(api: Api) -> AsyncIterator[None]:
    transport = transport_for(api.settings)
    worker = Worker(api.app.state.service.store, transport, WorkerOptions(idle_wait=0.05))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await transport.close()


async def _statuses(api: Api, key: str) -> list[str]:
    return sorted(d["status"] for d in (await api.ok("GET", "/v1/deliveries", key))["items"])


async def _until(api: Api, key: str, wanted: list[str]) -> None:
    for _ in range(200):
        if await _statuses(api, key) == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{await _statuses(api, key)} != {wanted}")


def _count(answer: dict[str, Any]) -> int:
    # How many were queued: "replayed" (or "queued", the name another change gives it).
    return int(answer.get("replayed", answer.get("queued", -1)))


async def test_replay_over_http_sends_the_matching_deliveries_again(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/replay.db"
    async with receiver() as rec, running_api(url, allowed_networks=LOOPBACK) as api:
        world = await api.world()
        key = world.partner["api_key"]
        postback = {"kind": "action_lifecycle", "url": rec.url("/r?a={ActionId}")}
        await api.ok("POST", "/v1/postbacks", key, json=postback)
        for n in (1, 2, 3):
            await api.ok("POST", "/v1/events", json=world.action(f"rp-{n}", ActionId=f"A-{n}"))
        async with worker_beside(api):
            await _until(api, key, ["delivered"] * 3)
            answer = await api.ok("POST", "/v1/deliveries/replay", key, json={"action_id": "A-2"})
            assert _count(answer) == 1
            await _until(api, key, ["delivered"] * 3)
            assert sorted(s.path_qs for s in rec.seen) == [
                "/r?a=A-1",
                "/r?a=A-2",
                "/r?a=A-2",
                "/r?a=A-3",
            ]
            answer = await api.ok(
                "POST", "/v1/deliveries/replay", key, json={"status": "delivered"}
            )
            assert _count(answer) == 3
            await _until(api, key, ["delivered"] * 3)
            assert len(rec.seen) == 7
        items = (await api.ok("GET", "/v1/deliveries", key, params={"action_id": "A-2"}))["items"]
        [again] = items
        detail = await api.ok("GET", f"/v1/deliveries/{again['id']}", key)
        assert [a["outcome"] for a in detail["attempts"]] == ["delivered"] * 3
