"""The store's delivery side on both databases: ingest, claim, complete, the log."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest

from postback.domain.records import DeliveryStatus, Event, EventTopic, NewDelivery
from postback.errors import Conflict, NotFound, ValidationProblem
from postback.storage.interfaces import DeliveryFilter, IngestItem
from postback.storage.sql import postback_rate
from postback.storage.sql_store import SQLStore
from tests.integration.test_store_helpers import (
    NOW,
    SECOND,
    delivery_for,
    lifecycle,
    make_world,
    put,
    result,
)

DELIVERED, RETRYING, FAILED = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.RETRYING,
    DeliveryStatus.FAILED,
)
HOUR = timedelta(hours=1)


async def _status(store: SQLStore, delivery_id: str) -> DeliveryStatus:
    return (await store.get_delivery(delivery_id, None)).status


# -- ingest -------------------------------------------------------------------------------------


async def test_ingest_stores_events_and_deliveries(store: SQLStore) -> None:
    w = await make_world(store)
    a, b = await lifecycle(store, w.partner), await lifecycle(store, w.other)
    event = Event("e1", EventTopic.ACTION_TRACKED, NOW, {"ActionId": "A1", "Amount": 1.5})
    item = IngestItem(event, (delivery_for(a), delivery_for(b)))
    [res] = await store.ingest([item])
    assert (res.event_id, res.duplicate, res.deliveries) == ("e1", False, 2)
    stored = await store.get_event("e1")
    assert stored.data == event.data
    assert stored.occurred_at == NOW
    assert stored.received_at is not None
    page = await store.list_deliveries(None, DeliveryFilter(), 10, None)
    assert {d.postback_id for d in page.items} == {a.id, b.id}
    one = page.items[0]
    assert one.status is DeliveryStatus.SCHEDULED
    assert one.request.headers == (("X-Token", "t"),)
    assert one.due_at == NOW
    assert one.event_occurred_at == NOW
    with pytest.raises(NotFound):
        await store.get_event("nope")


async def test_a_repeated_event_id_creates_nothing(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    event = Event("e1", EventTopic.ACTION_TRACKED, NOW, {})
    first = IngestItem(event, (delivery_for(pb, "A1"), delivery_for(pb, "A2")))
    again = IngestItem(event, (delivery_for(pb, "A3"),))
    fresh = IngestItem(Event("e2", EventTopic.ACTION_TRACKED, NOW, {}), ())
    results = await store.ingest([first, again, fresh])
    assert [(r.duplicate, r.deliveries) for r in results] == [(False, 2), (True, 0), (False, 0)]
    assert results[1].original_deliveries == 2  # the repeat names what the first created
    [later] = await store.ingest([again])
    assert (later.duplicate, later.deliveries, later.original_deliveries) == (True, 0, 2)
    assert later.original_received_at == (await store.get_event("e1")).received_at
    page = await store.list_deliveries(None, DeliveryFilter(), 10, None)
    assert len(page.items) == 2


async def test_ingest_is_all_or_nothing(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    good = IngestItem(Event("ok", EventTopic.ACTION_TRACKED, NOW, {}), (delivery_for(pb),))
    broken = NewDelivery(pb.id, pb.owner_id, delivery_for(pb).request, NOW, None)  # type: ignore[arg-type]
    bad = IngestItem(Event("bad", EventTopic.ACTION_TRACKED, NOW, {}), (broken,))
    with pytest.raises(Conflict):
        await store.ingest([good, bad])
    with pytest.raises(NotFound):
        await store.get_event("ok")
    assert (await store.list_deliveries(None, DeliveryFilter(), 10, None)).items == ()


async def test_ingest_of_a_benchmark_sized_batch(store: SQLStore) -> None:
    w = await make_world(store)
    pbs = [await lifecycle(store, w.partner) for _ in range(3)]
    items = [
        IngestItem(
            Event(f"e{i}", EventTopic.ACTION_TRACKED, NOW, {"ActionId": f"A{i}"}),
            tuple(delivery_for(pb, f"A{i}") for pb in pbs),
        )
        for i in range(100)
    ]
    before = datetime.now(UTC)
    results = await store.ingest(items)
    after = datetime.now(UTC)
    assert sum(r.deliveries for r in results) == 300
    stored = (await store.list_deliveries(None, DeliveryFilter(), 300, None)).items
    assert len(stored) == 300
    assert len({(d.created_at, d.updated_at) for d in stored}) == 1  # the batch's one time
    assert before <= stored[0].created_at == stored[0].updated_at <= after
    assert {(d.attempt_count, d.original_id) for d in stored} == {(0, None)}
    claims = await store.claim("w1", NOW, 1000, 60)
    assert len(claims) == 300


# -- claim --------------------------------------------------------------------------------------


async def test_claim_honours_due_at(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    assert await store.next_due_at() is None
    await put(store, pb, "e1", due=NOW + 10 * SECOND)
    assert await store.claim("w1", NOW, 10, 60) == []
    assert await store.next_due_at() == NOW + 10 * SECOND
    [claim] = await store.claim("w1", NOW + 10 * SECOND, 10, 60)
    assert claim.attempt_number == 1
    assert claim.retry_round_attempt == 1
    assert claim.send_at == NOW + 10 * SECOND
    assert claim.lease_until == NOW + 70 * SECOND
    assert claim.request.url.endswith("a=A1")
    assert await _status(store, claim.delivery_id) is DeliveryStatus.SENDING


async def test_claim_returns_the_postbacks_success_and_error_text(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner, success_response="OK", error_response="ERR")
    await put(store, pb, "e1")
    [claim] = await store.claim("w1", NOW, 10, 60)
    assert (claim.success_response, claim.error_response) == ("OK", "ERR")


async def test_claim_takes_oldest_first_up_to_the_limit(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    for i in range(5):
        await put(store, pb, f"e{i}", key=f"A{i}", due=NOW - i * SECOND)
    claims = await store.claim("w1", NOW, 2, 60)
    assert [c.request.url[-2:] for c in claims] == ["A4", "A3"]


async def test_an_expired_lease_is_taken_over(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [first] = await store.claim("w1", NOW, 10, 30)
    assert await store.claim("w2", NOW + 29 * SECOND, 10, 30) == []
    assert await store.next_due_at() == NOW + 30 * SECOND
    [taken] = await store.claim("w2", NOW + 31 * SECOND, 10, 30)
    assert taken.delivery_id == first.delivery_id
    assert taken.attempt_number == 1


async def test_disabled_postbacks_are_not_claimed(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    off = await store.update_postback(pb.id, None, replace(pb.config, enabled=False))
    assert not off.config.enabled
    assert await store.claim("w1", NOW, 10, 60) == []
    assert await store.next_due_at() is None
    await store.update_postback(pb.id, None, pb.config)
    assert len(await store.claim("w1", NOW, 10, 60)) == 1


# -- ordering per (postback, order key) ---------------------------------------------------------


async def test_a_later_delivery_waits_for_an_earlier_one_of_the_same_action(
    store: SQLStore,
) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "later", at=NOW + SECOND)  # arrives first, happened later
    await put(store, pb, "earlier", at=NOW)
    await put(store, pb, "other", key="B1", at=NOW + 2 * SECOND)
    claims = await store.claim("w1", NOW + 5 * SECOND, 10, 60)
    assert sorted(c.request.url[-2:] for c in claims) == ["A1", "B1"]
    earlier, other = sorted(claims, key=lambda c: c.request.url)
    assert (await store.get_delivery(earlier.delivery_id, None)).event_id == "earlier"
    retry_at = NOW + HOUR
    await store.complete(
        [
            result(earlier, RETRYING, NOW + 5 * SECOND, next_due=retry_at),
            result(other, DELIVERED, NOW + 5 * SECOND),
        ]
    )
    assert await store.claim("w1", NOW + 10 * SECOND, 10, 60) == []
    assert await store.next_due_at() == retry_at
    [again] = await store.claim("w1", retry_at, 10, 60)
    assert again.delivery_id == earlier.delivery_id
    assert again.attempt_number == 2
    assert again.retry_round_attempt == 2
    await store.complete([result(again, DELIVERED, retry_at)])
    [later] = await store.claim("w1", retry_at, 10, 60)
    assert (await store.get_delivery(later.delivery_id, None)).event_id == "later"


async def test_a_failed_earlier_delivery_no_longer_blocks(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1", at=NOW)
    await put(store, pb, "e2", at=NOW)  # same time: insertion order decides
    [first] = await store.claim("w1", NOW, 10, 60)
    assert (await store.get_delivery(first.delivery_id, None)).event_id == "e1"
    await store.complete([result(first, FAILED)])
    [second] = await store.claim("w1", NOW, 10, 60)
    assert second.delivery_id != first.delivery_id


async def test_ordering_is_per_postback(store: SQLStore) -> None:
    w = await make_world(store)
    a, b = await lifecycle(store, w.partner), await lifecycle(store, w.partner)
    await put(store, a, "e1")
    await put(store, b, "e2", at=NOW + SECOND)
    assert len(await store.claim("w1", NOW + SECOND, 10, 60)) == 2


# -- rate limits ---------------------------------------------------------------------------------


async def test_rate_limited_slots_are_spaced_and_the_rest_deferred(store: SQLStore) -> None:
    w = await make_world(store)
    slow = await lifecycle(store, w.partner, max_requests_per_second=2.0)
    fast = await lifecycle(store, w.partner)
    for i in range(5):
        await put(store, slow, f"s{i}", key=f"S{i}", due=NOW - (10 - i) * SECOND)
    await put(store, fast, "f0", key="F0", due=NOW)
    claims = await store.claim("w1", NOW, 10, 60)
    slots = sorted(c.send_at for c in claims if c.postback_id == slow.id)
    assert slots == [NOW, NOW + SECOND / 2, NOW + SECOND]
    assert [c.send_at for c in claims if c.postback_id == fast.id] == [NOW]
    assert all(c.lease_until == c.send_at + 60 * SECOND for c in claims)
    waiting = (
        await store.list_deliveries(None, DeliveryFilter(status=DeliveryStatus.SCHEDULED), 10, None)
    ).items
    assert sorted(d.due_at for d in waiting) == [NOW + 1.5 * SECOND, NOW + 2 * SECOND]
    assert all(d.attempt_count == 0 and d.last_error is None for d in waiting)
    assert await store.claim("w1", NOW + SECOND, 10, 60) == []
    [next_slot] = await store.claim("w2", NOW + 1.5 * SECOND, 10, 60)
    assert next_slot.send_at == NOW + 1.5 * SECOND


async def test_the_rate_state_is_shared_through_the_database(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner, max_requests_per_second=1.0)
    await put(store, pb, "e1", key="A")
    [one] = await store.claim("w1", NOW, 10, 60)
    assert one.send_at == NOW
    async with store.engine.connect() as conn:
        tat = (await conn.execute(postback_rate.select())).one().tat
    assert tat == NOW + SECOND
    await put(store, pb, "e2", key="B")
    [two] = await store.claim("w2", NOW + SECOND / 10, 10, 60)
    assert two.send_at == NOW + SECOND


async def test_rate_limit_waits_are_not_failures(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner, max_requests_per_second=1.0)
    async with store.engine.begin() as conn:  # a slot already taken far ahead
        await conn.execute(postback_rate.insert().values(postback_id=pb.id, tat=NOW + 10 * SECOND))
    await put(store, pb, "e1")
    assert await store.claim("w1", NOW, 10, 60) == []
    [waiting] = (await store.list_deliveries(None, DeliveryFilter(), 10, None)).items
    assert waiting.status is DeliveryStatus.SCHEDULED
    assert waiting.due_at == NOW + 10 * SECOND
    assert waiting.attempt_count == 0


# -- complete ------------------------------------------------------------------------------------


async def test_complete_logs_the_attempt_and_moves_the_delivery(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [claim] = await store.claim("w1", NOW, 10, 60)
    await store.complete([result(claim, RETRYING, NOW, next_due=NOW + HOUR)])
    got = await store.get_delivery(claim.delivery_id, w.partner.id)
    assert got.status is DeliveryStatus.RETRYING
    assert got.due_at == NOW + HOUR
    assert got.attempt_count == 1
    assert got.last_error == "HTTP 500"
    [attempt] = got.attempts
    assert attempt.number == 1
    assert attempt.reply is not None
    assert attempt.reply.status == 500
    assert attempt.reply.body == b"no"
    assert attempt.reply.headers == (("Content-Type", "text/plain"),)
    assert attempt.request == claim.request
    assert attempt.started_at == NOW
    [claim2] = await store.claim("w1", NOW + HOUR, 10, 60)
    await store.complete([result(claim2, DELIVERED, NOW + HOUR)])
    done = await store.get_delivery(claim.delivery_id, None)
    assert done.status is DeliveryStatus.DELIVERED
    assert done.last_error is None
    assert [a.number for a in done.attempts] == [1, 2]
    assert await store.next_due_at() is None


async def test_a_batch_written_again_is_not_logged_twice(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1", key="A1")
    await put(store, pb, "e2", key="A2")
    one, two = await store.claim("w1", NOW, 10, 60)
    await store.complete([result(one, RETRYING, NOW, next_due=NOW + HOUR)])
    # The worker could not tell whether that commit went through: it writes it again,
    # with the attempt it has made since.
    both = [
        result(one, RETRYING, NOW, next_due=NOW + HOUR),
        result(two, DELIVERED, NOW),
    ]
    await store.complete(both, again=True)
    first = await store.get_delivery(one.delivery_id, None)
    assert [a.number for a in first.attempts] == [1] and first.attempt_count == 1
    second = await store.get_delivery(two.delivery_id, None)
    assert second.status is DELIVERED and len(second.attempts) == 1


async def test_release_gives_unsent_claims_back_at_once(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [claim] = await store.claim("w1", NOW, 10, 60)
    assert await store.release("w2", [claim.delivery_id]) == 0  # not w2's to give back
    assert await store.claim("w2", NOW, 10, 60) == []
    assert await store.release("w1", [claim.delivery_id]) == 1
    got = await store.get_delivery(claim.delivery_id, None)
    assert got.status is DeliveryStatus.SCHEDULED and got.attempt_count == 0
    [again] = await store.claim("w2", NOW, 10, 60)  # no wait for the lease to run out
    assert again.delivery_id == claim.delivery_id and again.attempt_number == 1


async def test_a_claim_carries_the_owners_allowed_networks(store: SQLStore) -> None:
    w = await make_world(store)
    nets = (ip_network("10.1.0.0/16"), ip_network("fd00:1::/32"))
    insider = await store.set_allowed_networks(w.partner.id, nets)
    assert insider.allowed_networks == nets
    assert (await store.get_account(w.partner.id)).allowed_networks == nets
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [claim] = await store.claim("w1", NOW, 10, 60)
    assert claim.allowed_networks == nets
    await store.set_allowed_networks(w.partner.id, ())
    assert (await store.get_account(w.partner.id)).allowed_networks == ()


async def test_a_stale_worker_is_logged_but_changes_nothing(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [old] = await store.claim("w1", NOW, 10, 30)
    [new] = await store.claim("w2", NOW + 31 * SECOND, 10, 30)
    await store.complete([result(old, FAILED, NOW + 40 * SECOND, worker="w1")])
    got = await store.get_delivery(old.delivery_id, None)
    assert got.status is DeliveryStatus.SENDING
    assert got.attempt_count == 0
    assert len(got.attempts) == 1
    await store.complete([result(new, DELIVERED, NOW + 41 * SECOND, worker="w2")])
    got = await store.get_delivery(old.delivery_id, None)
    assert got.status is DeliveryStatus.DELIVERED
    assert got.attempt_count == 1
    assert len(got.attempts) == 2


async def test_three_days_of_failure_disable_the_postback(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner, name="Shop feed")
    await put(store, pb, "e1")
    [claim] = await store.claim("w1", NOW, 10, 60)
    await store.complete([result(claim, RETRYING, NOW, next_due=NOW + 71 * HOUR)])
    [claim] = await store.claim("w1", NOW + 71 * HOUR, 10, 60)
    await store.complete([result(claim, RETRYING, NOW + 71 * HOUR, next_due=NOW + 72 * HOUR)])
    assert (await store.get_postback(pb.id, None)).disabled_reason is None
    [claim] = await store.claim("w1", NOW + 72 * HOUR, 10, 60)
    await store.complete([result(claim, RETRYING, NOW + 72 * HOUR, next_due=NOW + 73 * HOUR)])
    disabled = await store.get_postback(pb.id, None)
    assert disabled.disabled_reason is not None
    assert disabled.disabled_at is not None and not disabled.config.enabled
    [notice] = await store.list_notices(w.partner.id)
    assert "Shop feed" in notice.message
    assert pb.id in notice.message
    assert await store.list_notices(w.other.id) == []
    assert (await store.matching_postbacks_many([_tracked(w.partner.id)]))[0] == []
    assert await store.claim("w1", NOW + 80 * HOUR, 10, 60) == []
    # Saving it unchanged keeps it off; enabling it again clears the reason and the time.
    await store.update_postback(pb.id, None, disabled.config)
    assert (await store.get_postback(pb.id, None)).disabled_at is not None
    await store.update_postback(pb.id, None, pb.config)  # enabled again by its owner
    enabled = await store.get_postback(pb.id, None)
    assert (enabled.disabled_reason, enabled.disabled_at, enabled.config.enabled) == (
        None,
        None,
        True,
    )
    assert len(await store.claim("w1", NOW + 80 * HOUR, 10, 60)) == 1


def _tracked(partner_id: str) -> Event:
    return Event("x", EventTopic.ACTION_TRACKED, NOW, {"MediaPartnerId": partner_id})


async def test_a_success_resets_the_failure_clock(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    for i in range(2):
        await put(store, pb, f"e{i}", key=f"A{i}")
    first, second = await store.claim("w1", NOW, 10, 60)
    await store.complete(
        [
            result(first, RETRYING, NOW, next_due=NOW + 73 * HOUR),
            result(second, DELIVERED, NOW + HOUR),
        ]
    )
    [again] = await store.claim("w1", NOW + 73 * HOUR, 10, 60)
    await store.complete([result(again, FAILED, NOW + 73 * HOUR)])
    assert (await store.get_postback(pb.id, None)).disabled_reason is None
    assert await store.list_notices(w.partner.id) == []


# -- the log: list, redeliver, replay ---------------------------------------------------------


async def test_pages_are_newest_first_without_overlap(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    for i in range(5):
        await put(store, pb, f"e{i}", key=f"A{i}")
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        page = await store.list_deliveries(w.partner.id, DeliveryFilter(), 2, cursor)
        seen += [d.event_id for d in page.items]
        cursor = page.next_cursor
    assert seen == ["e4", "e3", "e2", "e1", "e0"]
    assert cursor is None
    with pytest.raises(ValidationProblem):
        await store.list_deliveries(None, DeliveryFilter(), 2, "garbage!")


async def test_filters_and_owner_scoping(store: SQLStore) -> None:
    w = await make_world(store)
    a, b = await lifecycle(store, w.partner), await lifecycle(store, w.other)
    await put(store, a, "e1", key="A1")
    await put(store, a, "e2", key="A2")
    await put(store, b, "e3", key="A1")
    [claim] = await store.claim("w1", NOW, 1, 60)
    await store.complete([result(claim, DELIVERED)])

    async def ids(owner: str | None, **flt: object) -> set[str]:
        page = await store.list_deliveries(owner, DeliveryFilter(**flt), 50, None)  # type: ignore[arg-type]
        return {d.event_id for d in page.items}

    assert await ids(w.partner.id) == {"e1", "e2"}
    assert await ids(w.other.id) == {"e3"}
    assert await ids(None) == {"e1", "e2", "e3"}
    assert await ids(None, postback_id=b.id) == {"e3"}
    assert await ids(None, action_id="A1") == {"e1", "e3"}
    assert await ids(None, event_id="e2") == {"e2"}
    assert await ids(w.other.id, event_id="e2") == set()
    assert len(await ids(None, status=DeliveryStatus.DELIVERED)) == 1
    everything = await store.list_deliveries(None, DeliveryFilter(), 50, None)
    created = sorted(d.created_at for d in everything.items)
    assert await ids(None, since=created[-1] + SECOND) == set()
    assert await ids(None, until=created[0]) == set()
    assert len(await ids(None, since=created[0], until=created[-1] + SECOND)) == 3
    with pytest.raises(NotFound):
        await store.get_delivery(claim.delivery_id, w.brand.id)


async def test_redeliver(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [claim] = await store.claim("w1", NOW, 10, 60)
    with pytest.raises(Conflict):
        await store.redeliver(claim.delivery_id, None, NOW)
    await store.complete([result(claim, FAILED)])
    with pytest.raises(NotFound):
        await store.redeliver(claim.delivery_id, w.other.id, NOW)
    later = NOW + HOUR
    again = await store.redeliver(claim.delivery_id, w.partner.id, later)
    assert again.status is DeliveryStatus.SCHEDULED
    assert again.due_at == later
    assert len(again.attempts) == 1
    [claim2] = await store.claim("w1", later, 10, 60)
    assert claim2.delivery_id == claim.delivery_id
    assert (claim2.attempt_number, claim2.retry_round_attempt) == (2, 1)


async def test_resend_as_sent_is_a_new_delivery_that_keeps_the_request(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [claim] = await store.claim("w1", NOW, 10, 60)
    await store.complete([result(claim, DELIVERED)])
    original = await store.get_delivery(claim.delivery_id, None)
    with pytest.raises(NotFound):
        await store.resend_as_sent(original.id, w.other.id, NOW)
    # The postback changes: a copy still holds (and is claimed with) the old request.
    changed = replace(pb.config, url="https://partner.example/v2?a={ActionId}")
    await store.update_postback(pb.id, None, changed)
    later = NOW + HOUR
    copy = await store.resend_as_sent(original.id, w.partner.id, later)
    assert copy.id != original.id and copy.original_id == original.id
    assert (copy.status, copy.due_at, copy.attempt_count) == (DeliveryStatus.SCHEDULED, later, 0)
    assert copy.request == original.request
    assert (copy.event_id, copy.action_id, copy.order_key) == ("e1", "A1", "A1")
    assert copy.postback_version == original.postback_version == 1
    assert await _status(store, original.id) is DELIVERED  # the original is left as it was
    [claim2] = await store.claim("w1", later, 10, 60)
    assert claim2.delivery_id == copy.id
    assert claim2.request == original.request
    # Sent with the version it was rendered with: the worker does not render it again.
    assert claim2.postback_version == claim2.current_version == 1
    assert (claim2.attempt_number, claim2.retry_round_attempt) == (1, 1)
    await store.complete([result(claim2, FAILED, later)])
    # A copy is redelivered as sent again, not with the current postback.
    with pytest.raises(Conflict, match="redeliver " + original.id):
        await store.redeliver(copy.id, None, later)
    second = await store.resend_as_sent(copy.id, None, later)
    assert second.original_id == copy.id and second.request == original.request
    page = await store.list_deliveries(w.partner.id, DeliveryFilter(event_id="e1"), 10, None)
    assert [d.original_id for d in page.items] == [copy.id, original.id, None]


async def test_resend_as_sent_needs_a_stored_request(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    event = Event("e1", EventTopic.ACTION_TRACKED, NOW, {})
    unsendable = replace(delivery_for(pb), failure="render_failed: no such value")
    await store.ingest([IngestItem(event, (unsendable,))])
    [failed] = (await store.list_deliveries(None, DeliveryFilter(), 10, None)).items
    with pytest.raises(Conflict, match=r"no stored request.*render_failed"):
        await store.resend_as_sent(failed.id, None, NOW)
    await store.delete_postback(pb.id, None)
    await put(store, await lifecycle(store, w.partner), "e2")
    with pytest.raises(Conflict, match="deleted"):
        await store.resend_as_sent(failed.id, None, NOW)


async def test_replay_redelivers_finished_deliveries_only(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    for i in range(3):
        await put(store, pb, f"e{i}", key=f"A{i}")
    c0, c1, _c2 = await store.claim("w1", NOW, 10, 60)
    await store.complete([result(c0, DELIVERED), result(c1, FAILED)])
    assert await store.replay(w.other.id, DeliveryFilter(), NOW) == 0
    assert await store.replay(w.partner.id, DeliveryFilter(action_id="A0"), NOW + HOUR) == 1
    assert await store.replay(None, DeliveryFilter(), NOW + HOUR) == 1
    assert await _status(store, c0.delivery_id) is DeliveryStatus.SCHEDULED
    assert await _status(store, c1.delivery_id) is DeliveryStatus.SCHEDULED
    assert await store.replay(None, DeliveryFilter(), NOW + HOUR) == 0


async def test_deleting_a_postback_keeps_its_log(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1")
    [res] = (await store.list_deliveries(None, DeliveryFilter(), 10, None)).items
    await store.delete_postback(pb.id, w.partner.id)
    got = await store.get_delivery(res.id, w.partner.id)
    assert got.status is DeliveryStatus.FAILED
    assert got.last_error == "postback deleted"
    assert await store.claim("w1", NOW, 10, 60) == []


# -- waking workers ------------------------------------------------------------------------------


async def test_ingest_wakes_a_waiting_worker(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await store.wait_for_work(0)  # PostgreSQL: starts listening
    waiter = asyncio.create_task(store.wait_for_work(30))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await put(store, pb, "e1")
    await asyncio.wait_for(waiter, 5)


async def test_wait_for_work_times_out(store: SQLStore) -> None:
    await store.wait_for_work(0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await store.wait_for_work(0.2)
    assert 0.15 < loop.time() - start < 3


async def test_concurrent_ingest_claim_and_complete(store: SQLStore) -> None:
    """API and workers at once in one process: no lock errors, nothing lost or doubled."""
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    total = 3 * 10 * 5

    async def producer(n: int) -> None:
        for b in range(10):
            items = [
                IngestItem(
                    Event(f"p{n}-{b}-{i}", EventTopic.ACTION_TRACKED, NOW, {}),
                    (delivery_for(pb, f"K{n}-{b}-{i}"),),
                )
                for i in range(5)
            ]
            await store.ingest(items)

    async def consumer(name: str, seen: list[str]) -> None:
        idle = 0
        while len(seen) < total and idle < 200:
            claims = await store.claim(name, NOW, 7, 60)
            idle = 0 if claims else idle + 1
            seen += [c.delivery_id for c in claims]
            await store.complete([result(c, DELIVERED, worker=name) for c in claims])
            await asyncio.sleep(0)

    seen: list[str] = []
    await asyncio.gather(
        *(producer(n) for n in range(3)), consumer("w1", seen), consumer("w2", seen)
    )
    assert len(seen) == total
    assert len(set(seen)) == total
    delivered = await store.list_deliveries(
        None, DeliveryFilter(status=DeliveryStatus.DELIVERED), 1000, None
    )
    assert len(delivered.items) == total


# -- leases -------------------------------------------------------------------------------------


async def _listed(store: SQLStore, status: DeliveryStatus) -> list[str]:
    page = await store.list_deliveries(None, DeliveryFilter(status=status), 100, None)
    return sorted(d.id for d in page.items)


async def test_a_leased_delivery_lists_as_sending_and_not_as_scheduled(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    await put(store, pb, "e1", "A1")
    await put(store, pb, "e2", "A2")
    page = await store.list_deliveries(None, DeliveryFilter(), 10, None)
    [claim] = await store.claim("w1", NOW, 1, 60)
    [other] = {d.id for d in page.items} - {claim.delivery_id}
    assert await _listed(store, DeliveryStatus.SENDING) == [claim.delivery_id]
    assert await _listed(store, DeliveryStatus.SCHEDULED) == [other]
    await store.complete([result(claim, RETRYING, NOW + HOUR)])
    assert await _listed(store, DeliveryStatus.SENDING) == []
    assert await _listed(store, DeliveryStatus.RETRYING) == [claim.delivery_id]


async def _deliveries_updates(store: SQLStore) -> tuple[int, int]:
    async with store.engine.connect() as conn:
        found = await conn.exec_driver_sql(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'deliveries'"
        )
        upd, hot = found.one()
        return int(upd), int(hot)


async def test_a_lease_touches_no_index_on_postgresql(store: SQLStore) -> None:
    """Leasing writes only unindexed columns: on a page with room (five small rows on a
    fresh page), every lease is a HOT update (with status in the lease, none was)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    for n in range(5):
        await put(store, pb, f"e{n}", f"A{n}")
    assert len(await store.claim("w1", NOW, 5, 60)) == 5
    # An idle backend reports its statistics within 10 s; one that ends, at once.
    await store.close()
    for _ in range(100):
        upd, hot = await _deliveries_updates(store)
        if upd >= 5:
            break
        await asyncio.sleep(0.05)
    assert (upd, hot) == (5, 5)


async def test_one_batch_moves_each_delivery_by_its_own_result(store: SQLStore) -> None:
    """Results sharing their outcome are written together, the rest one by one: each
    delivery still ends as its own result says, and a stale holder's changes nothing."""
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    for n in range(7):
        await put(store, pb, f"e{n}", f"A{n}")
    claims = await store.claim("w1", NOW, 7, 60)
    at = NOW + SECOND
    outcomes = [
        result(claims[0], DELIVERED, at),
        result(claims[1], DELIVERED, at),
        result(claims[2], DELIVERED, at),
        result(claims[3], RETRYING, at, next_due=NOW + HOUR),
        result(claims[4], RETRYING, at, next_due=NOW + 2 * HOUR),
        result(claims[5], FAILED, at),
        result(claims[6], DELIVERED, at, worker="someone else"),
    ]
    await store.complete(outcomes)
    got = [await store.get_delivery(c.delivery_id, None) for c in claims]
    assert [d.status for d in got] == [
        DELIVERED,
        DELIVERED,
        DELIVERED,
        RETRYING,
        RETRYING,
        FAILED,
        DeliveryStatus.SENDING,
    ]
    assert [d.attempt_count for d in got] == [1, 1, 1, 1, 1, 1, 0]
    assert got[3].due_at == NOW + HOUR
    assert got[4].due_at == NOW + 2 * HOUR
    assert [d.last_error for d in got] == [
        None,
        None,
        None,
        "HTTP 500",
        "HTTP 500",
        "HTTP 500",
        None,
    ]


async def test_a_backlog_is_pushed_back_once_to_consecutive_turns(store: SQLStore) -> None:
    """A second claim while the postback's turns are taken queues its deliveries after
    the ones already waiting, instead of on the same turns (claimed again and again)."""
    w = await make_world(store)
    pb = await lifecycle(store, w.partner, max_requests_per_second=4.0)
    for i in range(10):
        await put(store, pb, f"e{i}", key=f"K{i}", due=NOW - (20 - i) * SECOND)
    first = await store.claim("w1", NOW, 7, 60)
    assert [c.send_at for c in first] == [NOW + k * SECOND / 4 for k in range(5)]
    second = await store.claim("w1", NOW, 7, 60)
    assert second == []
    waiting = (
        await store.list_deliveries(None, DeliveryFilter(status=DeliveryStatus.SCHEDULED), 10, None)
    ).items
    turns = sorted(d.due_at for d in waiting)
    assert turns == [NOW + (5 + k) * SECOND / 4 for k in range(5)]
    assert await store.claim("w1", NOW + SECOND / 2, 7, 60) == []
    [next_turn] = await store.claim("w1", NOW + 5 * SECOND / 4, 7, 60)
    assert next_turn.send_at == NOW + 5 * SECOND / 4
