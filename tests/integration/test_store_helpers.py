"""Builders shared by the store tests (no tests here): a small world, events, results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from postback.delivery.queue import AttemptResult, Claim
from postback.domain.records import (
    Account,
    AccountKind,
    Attempt,
    DeliveryStatus,
    Event,
    EventTopic,
    EventType,
    HttpMethod,
    MediaSource,
    NewDelivery,
    PartnerType,
    Postback,
    PostbackConfig,
    PostbackKind,
    Program,
    RenderedRequest,
    Reply,
)
from postback.storage.interfaces import IngestItem, IngestResult
from postback.storage.sql_store import SQLStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@dataclass
class World:
    brand: Account
    partner: Account
    other: Account  # a second partner, with no contract
    program: Program
    sale: EventType
    app: EventType
    source: MediaSource


async def make_world(store: SQLStore) -> World:
    brand = await store.create_account("Brand", AccountKind.BRAND, None, "key-brand")
    partner = await store.create_account(
        "Partner", AccountKind.PARTNER, PartnerType.CASHBACK, "key-partner"
    )
    other = await store.create_account(
        "Other", AccountKind.PARTNER, PartnerType.COUPON, "key-other"
    )
    program = await store.create_program(brand.id, "Shop")
    sale = await store.create_event_type(program.id, "Online sale", "sale")
    app = await store.create_event_type(program.id, "App", "app_install")
    await store.create_contract(partner.id, program.id, [sale.id, app.id])
    source = await store.create_media_source(brand.id, "Tech partner")
    return World(brand, partner, other, program, sale, app, source)


def config(kind: PostbackKind = PostbackKind.ACTION_LIFECYCLE, **kw: Any) -> PostbackConfig:
    return PostbackConfig(kind=kind, url="https://partner.example/pb?a={ActionId}", **kw)


async def lifecycle(store: SQLStore, owner: Account, **kw: Any) -> Postback:
    return await store.create_postback(owner.id, config(**kw))


def action(
    world: World,
    event_id: str,
    etype: EventTopic = EventTopic.ACTION_TRACKED,
    at: datetime = NOW,
    **data: Any,
) -> Event:
    base = {
        "MediaPartnerId": world.partner.id,
        "CampaignId": world.program.id,
        "ActionTrackerId": world.sale.id,
        "ActionId": "A1",
    }
    return Event(id=event_id, type=etype, occurred_at=at, data=base | data)


def request(url: str = "https://partner.example/pb?a=A1") -> RenderedRequest:
    return RenderedRequest(HttpMethod.GET, url, (("X-Token", "t"),), None)


def delivery_for(
    postback: Postback, key: str = "A1", due: datetime = NOW, action_id: str | None = None
) -> NewDelivery:
    return NewDelivery(
        postback_id=postback.id,
        owner_id=postback.owner_id,
        request=request(f"https://partner.example/pb?a={key}"),
        due_at=due,
        order_key=key,
        action_id=action_id if action_id is not None else key,
    )


async def put(
    store: SQLStore,
    postback: Postback,
    event_id: str,
    key: str = "A1",
    at: datetime = NOW,
    due: datetime | None = None,
) -> IngestResult:
    """Ingest one event with one delivery for ``postback``."""
    event = Event(id=event_id, type=EventTopic.ACTION_TRACKED, occurred_at=at, data={"k": key})
    item = IngestItem(event, (delivery_for(postback, key, due or at),))
    [result] = await store.ingest([item])
    return result


def result(
    claim: Claim,
    status: DeliveryStatus,
    at: datetime = NOW,
    worker: str = "w1",
    next_due: datetime | None = None,
) -> AttemptResult:
    """What a worker reports for a claim: success is a 200, anything else a 500."""
    ok = status is DeliveryStatus.DELIVERED
    attempt = Attempt(
        delivery_id=claim.delivery_id,
        number=claim.attempt_number,
        started_at=at,
        duration_ms=12.5,
        request=claim.request,
        reply=Reply(200 if ok else 500, (("Content-Type", "text/plain"),), b"ok" if ok else b"no"),
        outcome="delivered" if ok else "status",
        error=None if ok else "HTTP 500",
    )
    return AttemptResult(attempt, status, next_due, worker)
