"""Replays with progress, and media-source actions delivered, through the API and a real
worker to a real receiver on loopback; ``postback replay``'s progress bar on the same
database (issue 13 point 6, issue 10 point 3)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from postback.delivery.transport import transport_for
from postback.delivery.worker import Worker, WorkerOptions
from postback.storage import open_store
from tests.apiclient import Api, running_api
from tests.e2e.receiver import Receiver, receiver
from tests.e2e.rig import Rig, all_final, rig
from tests.integration.test_cli import cli, finished

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
EVENTS = 6  # two postbacks each: 12 deliveries, sent at 5 a second per postback


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/replay.db"
    return str(request.getfixturevalue("pg_url"))


@asynccontextmanager
async def worker_on(api: Api) -> AsyncIterator[None]:
    """A delivery worker on the API's database, as ``postback worker`` runs one."""
    store = open_store(api.settings.database_url)
    transport = transport_for(api.settings)
    stop = asyncio.Event()
    worker = Worker(store, transport, WorkerOptions(idle_wait=0.05, lease_seconds=30))
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await transport.close()
        await store.close()


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[tuple[Api, Receiver]]:
    settings: dict[str, Any] = {"allowed_networks": LOOPBACK, "connect_timeout": 1.0}
    async with receiver() as rec, running_api(database_url, **settings) as api, worker_on(api):
        yield api, rec


async def poll(api: Api, path: str, key: str, done: Callable[[Any], bool]) -> list[Any]:
    """Every reading of ``path`` until ``done`` holds (10 s at most)."""
    readings = []
    for _ in range(400):
        readings.append(await api.ok("GET", path, key))
        if done(readings[-1]):
            return readings
        await asyncio.sleep(0.025)
    raise AssertionError(f"not done: {readings[-1]}")


def _all_final(page: Any) -> bool:
    items = page["items"]
    return len(items) == 2 * EVENTS and all(d["status"] in ("delivered", "failed") for d in items)


async def test_a_replay_reports_its_progress_as_the_worker_sends(
    env: tuple[Api, Receiver],
) -> None:
    api, rec = env
    rec.script("/bad", (400, "no", {}))
    world = await api.world()
    key = world.partner["api_key"]
    for path in ("/ok", "/bad"):
        body = {
            "kind": "action_lifecycle",
            "url": rec.url(path + "?a={ActionId}"),
            "max_requests_per_second": 5,
        }
        await api.ok("POST", "/v1/postbacks", key, json=body)
    events = [world.action(f"r-{i}", ActionId=f"A-{i}") for i in range(EVENTS)]
    await api.ok("POST", "/v1/events", json=events)
    await poll(api, "/v1/deliveries?limit=100", key, _all_final)
    sent_before = len(rec.seen)

    started = await api.ok("POST", "/v1/deliveries/replay", key, json={"all": True})
    assert started["queued"] == 2 * EVENTS
    path = f"/v1/replays/{started['replay_id']}"
    readings = await poll(api, path, key, lambda r: r["waiting"] == 0)

    last = readings[-1]
    assert {k: last[k] for k in ("total", "waiting", "retrying", "delivered", "failed")} == {
        "total": 2 * EVENTS,
        "waiting": 0,
        "retrying": 0,
        "delivered": EVENTS,
        "failed": EVENTS,
    }
    assert last["id"] == started["replay_id"]
    # The counts moved while the worker sent (rate-limited, so over about a second).
    assert readings[0]["waiting"] > EVENTS
    assert any(0 < r["waiting"] < 2 * EVENTS for r in readings)
    waiting = [r["waiting"] for r in readings]
    assert waiting == sorted(waiting, reverse=True)
    assert len(rec.seen) == sent_before + 2 * EVENTS
    # Only its owner (and the operator) can read it.
    other = await api.account("partner", "cashback")
    assert (await api.call("GET", path, other["api_key"])).status_code == 404
    assert (await api.call("GET", "/v1/replays/rpl_nope", key)).status_code == 404
    assert (await api.ok("GET", path))["total"] == 2 * EVENTS


async def test_an_action_from_a_media_source_alone_is_delivered(
    env: tuple[Api, Receiver],
) -> None:
    api, rec = env
    world = await api.world()
    key = world.brand["api_key"]
    source = await api.ok("POST", "/v1/media-sources", key, json={"name": "Ad network"})
    media = {
        "kind": "media_source",
        "url": rec.url("/net?a={ActionId}&src={MediaSourceId}"),
        "media_source_id": source["id"],
        "event_type_id": world.tracker["id"],
    }
    await api.ok("POST", "/v1/postbacks", key, json=media)
    event = world.action("ms-1", MediaSourceId=source["id"])
    del event["data"]["MediaPartnerId"]
    assert (await api.ok("POST", "/v1/events", json=event))["deliveries"] == 1
    [page] = (
        await poll(api, "/v1/deliveries", key, lambda p: p["items"][0]["status"] == "delivered")
    )[-1:]
    [seen] = rec.on("/net")
    assert seen.path_qs == f"/net?a=A-1&src={source['id']}"
    assert seen.headers["Postback-Id"] == page["items"][0]["id"]


# -- the command line ----------------------------------------------------------------------------
@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[Rig]:
    async with rig(db_url) as r:
        yield r


async def test_postback_replay_shows_progress_until_all_are_sent(db_url: str, world: Rig) -> None:
    async with receiver() as rec:
        await finished(world, rec)  # 2 delivered, 2 refused with a 400
        result = await cli(db_url, "replay", "--all")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert re.fullmatch(r"replayed 4 deliveries \(replay rpl_\w+\)", lines[0]), lines
        bar = [line for line in lines if line.startswith("sending")]
        assert bar and "4/4" in bar[-1], lines
        assert "delivered 2 · failed 2 · retrying 0" in bar[-1]
        replay_id = lines[0].split("replay ")[1].rstrip(")")
        assert lines[-1] == (
            f"replay {replay_id}: 2 delivered, 2 failed, 0 retrying, 0 waiting (of 4)"
        )
        # It returned once they were sent: the receiver has them all (4 + 4 again).
        assert len(rec.seen) == 8
        await world.until(all_final(4))
