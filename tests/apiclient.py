"""A small client for the API tests: the app on a real store, called through ASGI or served
on loopback, and a delivery worker on its database."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from postback.api.app import create_app
from postback.config import Settings
from postback.delivery.transport import transport_for
from postback.delivery.worker import Worker, WorkerOptions
from postback.storage import open_store

ADMIN = "pbk_test_operator_key"
#: The plainest postback: a partner's lifecycle postback to an outside address.
LIFECYCLE = {"kind": "action_lifecycle", "url": "https://partner.example/pb?a={ActionId}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings
    app: Any = None
    seq: list[int] = field(default_factory=lambda: [0])

    def _auth(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or ADMIN}"}

    async def call(
        self, method: str, path: str, key: str | None = None, **kw: Any
    ) -> httpx.Response:
        return await self.client.request(method, path, headers=self._auth(key), **kw)

    async def ok(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        r = await self.call(method, path, key, **kw)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json() if r.content else None

    async def account(self, kind: str, partner_type: str | None = None) -> dict[str, Any]:
        self.seq[0] += 1
        body = {"name": f"{kind} {self.seq[0]}", "kind": kind}
        if partner_type:
            body["partner_type"] = partner_type
        return await self.ok("POST", "/v1/accounts", json=body)  # type: ignore[no-any-return]

    async def world(self, partner_type: str = "cashback") -> World:
        """A brand with a program and event type, a partner with a contract on it."""
        brand = await self.account("brand")
        partner = await self.account("partner", partner_type)
        program = await self.ok("POST", "/v1/programs", brand["api_key"], json={"name": "P"})
        event_type = await self.ok(
            "POST",
            f"/v1/programs/{program['id']}/event-types",
            brand["api_key"],
            json={"name": "Sale"},
        )
        contract = await self.ok(
            "POST",
            "/v1/contracts",
            brand["api_key"],
            json={
                "partner_id": partner["id"],
                "program_id": program["id"],
                "event_type_ids": [event_type["id"]],
            },
        )
        return World(brand, partner, program, event_type, contract)


@dataclass
class World:
    brand: dict[str, Any]
    partner: dict[str, Any]
    program: dict[str, Any]
    event_type: dict[str, Any]
    contract: dict[str, Any]

    def action(self, event_id: str, topic: str = "action.tracked", **data: Any) -> dict[str, Any]:
        base = {
            "MediaPartnerId": self.partner["id"],
            "CampaignId": self.program["id"],
            "ActionTrackerId": self.event_type["id"],
            "ActionId": "A-1",
            "Payout": "12.5",
            "Amount": "149.9",
        }
        base.update(data)
        return {
            "id": event_id,
            "type": topic,
            "occurred_at": "2026-11-23T10:00:00Z",
            "data": base,
        }


@asynccontextmanager
async def running_api(database_url: str, **settings: Any) -> AsyncIterator[Api]:
    config = Settings(database_url=database_url, admin_key=ADMIN, **settings)
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client, config, app)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port: its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


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
