"""A delivery rig: a real store, the service, an in-process worker with a movable clock,
and a real receiver on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from postback.config import Settings
from postback.delivery.transport import transport_for
from postback.delivery.worker import Worker, WorkerOptions
from postback.domain.records import (
    AccountKind,
    Delivery,
    DeliveryStatus,
    Event,
    EventTopic,
    PartnerType,
    Postback,
    PostbackConfig,
    PostbackKind,
)
from postback.service.usecases import Service
from postback.storage import open_store
from postback.testing import LocalResolver, MovableClock

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@dataclass
class Rig:
    service: Service
    clock: MovableClock
    partner_id: str
    program_id: str = "prog"
    event_type_id: str = "trk"
    seq: int = 0

    @property
    def store(self) -> Any:
        return self.service.store

    async def postback(self, url: str, **config: Any) -> Postback:
        cfg = PostbackConfig(kind=PostbackKind.ACTION_LIFECYCLE, url=url, **config)
        return await self.service.store.create_postback(self.partner_id, cfg)

    async def event(
        self, action_id: str = "A-1", delay: timedelta = timedelta(0), **data: Any
    ) -> Event:
        self.seq += 1
        event = Event(
            id=f"ev-{self.seq}",
            type=EventTopic.ACTION_TRACKED,
            occurred_at=self.clock() + delay,
            data={
                "MediaPartnerId": self.partner_id,
                "CampaignId": self.program_id,
                "ActionTrackerId": self.event_type_id,
                "ActionId": action_id,
                **data,
            },
        )
        await self.service.ingest([event])
        return event

    async def deliveries(self) -> list[Delivery]:
        from postback.storage.interfaces import DeliveryFilter

        page = await self.store.list_deliveries(None, DeliveryFilter(), 500, None)
        return [await self.store.get_delivery(d.id, None) for d in page.items]

    async def until(
        self, check: Callable[[list[Delivery]], bool], timeout: float = 10.0
    ) -> list[Delivery]:
        """Poll the delivery log until ``check`` holds; fail after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            found = await self.deliveries()
            if check(found):
                return found
            if loop.time() > end:
                states = [(d.status, d.attempt_count, d.last_error) for d in found]
                raise AssertionError(f"condition not met in {timeout}s: {states}")
            await asyncio.sleep(0.05)

    async def holds(self, check: Callable[[list[Delivery]], bool], seconds: float) -> None:
        """Poll the delivery log for ``seconds``; fail as soon as ``check`` does not hold."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        polls = 0
        while loop.time() < end or polls < 2:
            found = await self.deliveries()
            states = [(d.status, d.attempt_count, d.last_error) for d in found]
            assert check(found), f"condition broken after {polls} polls: {states}"
            polls += 1
            await asyncio.sleep(0.05)


def all_final(expected: int) -> Callable[[list[Delivery]], bool]:
    def check(found: list[Delivery]) -> bool:
        final = {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED}
        return len(found) == expected and all(d.status in final for d in found)

    return check


def status_is(status: DeliveryStatus, attempts: int = 1) -> Callable[[list[Delivery]], bool]:
    def check(found: list[Delivery]) -> bool:
        return bool(found) and all(
            d.status is status and d.attempt_count >= attempts for d in found
        )

    return check


@asynccontextmanager
async def rig(database_url: str, allowed: bool = True, **settings: Any) -> AsyncIterator[Rig]:
    config = Settings(
        database_url=database_url,
        allowed_networks=LOOPBACK if allowed else (),
        connect_timeout=1.0,
        total_timeout=settings.pop("total_timeout", 2.0),
        **settings,
    )
    store = open_store(database_url)
    await store.migrate()
    clock = MovableClock()
    service = Service(store, config, clock)
    partner = await store.create_account("P", AccountKind.PARTNER, PartnerType.CASHBACK, "hash-p")
    transport = transport_for(config, LocalResolver())
    options = WorkerOptions(idle_wait=0.05, lease_seconds=30)
    worker = Worker(store, transport, options, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield Rig(service, clock, partner.id)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await transport.close()
        await store.close()


def later(rig_: Rig, seconds: float) -> None:
    rig_.clock.advance(timedelta(seconds=seconds))


__all__ = ["Rig", "all_final", "later", "replace", "rig", "status_is"]
