"""What the circuit breaker needs from the store, on both databases: each delivery's
destination, claims that leave destinations out (or take only one, for a probe), and
the bulk push-back of a destination's due deliveries with a skipped attempt each."""

from __future__ import annotations

import dataclasses
import importlib
from datetime import datetime

from sqlalchemy import Connection, select, text

from postback.delivery.breaker import destination
from postback.delivery.queue import Destinations, Skip
from postback.domain.records import (
    DeliveryStatus,
    Event,
    EventTopic,
    HttpMethod,
    NewDelivery,
    Postback,
    RenderedRequest,
)
from postback.storage.interfaces import DeliveryFilter, IngestItem
from postback.storage.sql import deliveries
from postback.storage.sql_store import SQLStore
from tests.integration.test_store_helpers import NOW, SECOND, lifecycle, make_world, result

DEAD, ALIVE = "http://dead.example:81", "https://alive.example"
LATER = NOW + 30 * SECOND


async def _put(
    store: SQLStore, pb: Postback, n: int, url: str, due: datetime = NOW, key: str = ""
) -> None:
    new = NewDelivery(
        postback_id=pb.id,
        owner_id=pb.owner_id,
        request=RenderedRequest(HttpMethod.GET, f"{url}/pb?n={n}", (("X-Token", "t"),), None),
        due_at=due,
        order_key=key or f"K{n}",
        action_id=f"A{n}",
    )
    event = Event(f"e{n}", EventTopic.ACTION_TRACKED, NOW, {"n": n})
    await store.ingest([IngestItem(event, (new,))])


async def _world(store: SQLStore) -> Postback:
    w = await make_world(store)
    return await lifecycle(store, w.partner)


async def _destinations(store: SQLStore) -> dict[str, str]:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(deliveries.c.url, deliveries.c.destination))
        return {r.url: r.destination for r in found}


def _skip(claimed: tuple[str, ...] = (), worker: str = "w1") -> Skip:
    return Skip(DEAD, LATER, f"not sent: {DEAD} is not answering", worker, claimed)


async def test_ingest_stores_each_deliverys_destination(store: SQLStore) -> None:
    pb = await _world(store)
    await _put(store, pb, 1, "HTTP://user:pw@Dead.Example:81")
    await _put(store, pb, 2, ALIVE)
    assert await _destinations(store) == {
        "HTTP://user:pw@Dead.Example:81/pb?n=1": DEAD,
        f"{ALIVE}/pb?n=2": ALIVE,
    }


async def test_a_claim_can_leave_destinations_out_or_take_only_one(store: SQLStore) -> None:
    pb = await _world(store)
    for n in range(4):
        await _put(store, pb, n, DEAD if n % 2 else ALIVE, NOW - n * SECOND)
    skip = Destinations(skip=frozenset({DEAD}))
    assert await store.next_due_at(skip.skip) == NOW - 2 * SECOND
    assert await store.next_due_at() == NOW - 3 * SECOND
    taken = await store.claim("w1", NOW, 10, 60, skip)
    assert [destination(c.request.url) for c in taken] == [ALIVE, ALIVE]
    assert await store.next_due_at(skip.skip) == NOW + 60 * SECOND  # only leases left
    [probe] = await store.claim("w1", NOW, 1, 60, Destinations(only=DEAD))
    assert probe.request.url == f"{DEAD}/pb?n=3"  # the oldest
    assert await store.claim("w1", NOW, 10, 60, skip) == []


async def test_a_skip_moves_the_due_ones_with_a_skipped_attempt_each(store: SQLStore) -> None:
    pb = await _world(store)
    for n in range(3):
        await _put(store, pb, n, DEAD, NOW - n * SECOND)
    await _put(store, pb, 3, DEAD, NOW + SECOND)  # not due yet
    await _put(store, pb, 4, ALIVE)
    [mine] = await store.claim("w1", NOW, 1, 60, Destinations(only=DEAD))  # n=2, oldest
    [theirs] = await store.claim("w2", NOW, 1, 60, Destinations(only=DEAD))  # n=1
    moved = await store.skip_destination(_skip((mine.delivery_id,)), NOW, 100)
    assert moved == 2  # mine (given back first) and n=0; not theirs, not the future one
    full = await store.get_delivery(mine.delivery_id, None)
    assert full.status is DeliveryStatus.RETRYING and full.due_at == LATER
    assert full.attempt_count == 1 and full.last_error == _skip().error
    [attempt] = full.attempts
    assert (attempt.number, attempt.outcome, attempt.error) == (1, "skipped", _skip().error)
    assert attempt.reply is None and attempt.duration_ms == 0 and attempt.started_at == NOW
    assert attempt.request.url == full.request.url and attempt.request.headers == ()
    assert attempt.postback_version == full.postback_version
    untouched = await store.get_delivery(theirs.delivery_id, None)
    assert untouched.attempt_count == 0 and untouched.status is DeliveryStatus.SENDING
    assert len(await store.claim("w3", NOW, 10, 60, Destinations(only=ALIVE))) == 1
    # The skip took a number in the log, not a try of the retry schedule.
    early = await store.claim("w3", LATER - SECOND, 10, 60, Destinations(only=DEAD))
    assert [c.request.url for c in early] == [f"{DEAD}/pb?n=3"]  # only the one not skipped
    found = await store.claim("w3", LATER, 10, 60, Destinations(only=DEAD))
    again = next(c for c in found if c.delivery_id == mine.delivery_id)
    assert (again.attempt_number, again.retry_round_attempt) == (2, 1)


async def test_a_skip_moves_what_a_claim_would_take_up_to_the_limit(store: SQLStore) -> None:
    pb = await _world(store)
    for n in range(5):
        await _put(store, pb, n, DEAD, NOW - (5 - n) * SECOND)
    await _put(store, pb, 5, DEAD, NOW, key="K0")  # waits behind n=0 (same order key)
    assert await store.skip_destination(_skip(), NOW, 3) == 3
    assert await store.skip_destination(_skip(), NOW, 3) == 2  # the blocked one stays
    listed = await store.list_deliveries(None, DeliveryFilter(), 10, None)
    assert sorted(d.attempt_count for d in listed.items) == [0, 1, 1, 1, 1, 1]
    # A disabled postback's deliveries are not claimed, so not skipped either.
    await store.update_postback(pb.id, None, dataclasses.replace(pb.config, enabled=False))
    assert await store.skip_destination(_skip(), LATER, 10) == 0
    await store.update_postback(pb.id, None, pb.config)
    assert await store.skip_destination(_skip(), LATER, 10) == 5


async def test_a_request_rendered_anew_gets_its_new_destination(store: SQLStore) -> None:
    pb = await _world(store)
    await _put(store, pb, 1, DEAD)
    [claim] = await store.claim("w1", NOW, 1, 60)
    fresh = RenderedRequest(HttpMethod.GET, f"{ALIVE}/new", (), None)
    failed = result(claim, DeliveryStatus.RETRYING, next_due=LATER)
    attempt = dataclasses.replace(failed.attempt, postback_version=1)
    done = dataclasses.replace(failed, attempt=attempt, rendered=fresh)
    await store.complete([done])
    assert await _destinations(store) == {f"{ALIVE}/new": ALIVE}


# -- migration 0013 ------------------------------------------------------------------------
STORED_URLS = (
    "https://user:secret@Partner.Example:8443?x=/",
    "HTTPS://Partner.Example/pb#x",
    "http://[::1]:81/",
    "http://a.example?u=http://b.example/x",
    "http://u@v@host.example/p",
    "http://host.example#frag/x",
    "http://host.example",
    "http://h.example/p@x?q=a@b",
    "no-scheme-at-all",
)


def _rows_before_0013(conn: Connection) -> None:
    conn.exec_driver_sql(
        "INSERT INTO events (id, type, occurred_at, data, received_at, deliveries_created) "
        "VALUES ('ev1', 'action.tracked', '2026-01-01 00:00:00+00', '{}', "
        "'2026-01-01 00:00:00+00', 1)"
    )
    for n, url in enumerate(STORED_URLS):
        conn.execute(
            text(
                "INSERT INTO deliveries (seq, id, postback_id, owner_id, event_id, "
                "event_occurred_at, method, url, headers, status, due_at, order_key, "
                "attempt_count, round_attempts, created_at, updated_at) VALUES "
                f"({n + 1}, 'dlv{n}', 'pb', 'acc', 'ev1', '2026-01-01 00:00:00+00', 'GET', "
                ":url, '[]', 'scheduled', '2026-01-01 00:00:00+00', 'k', 0, 0, "
                "'2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
            ),
            {"url": url},
        )


async def test_0013_gives_stored_deliveries_the_destination_the_code_would(
    store: SQLStore,
) -> None:
    module = importlib.import_module(
        "postback.storage.migrations.versions.0013_delivery_destination"
    )
    await store.downgrade(module.down_revision)
    async with store.engine.begin() as conn:
        await conn.run_sync(_rows_before_0013)
    await store.migrate()
    assert await _destinations(store) == {url: destination(url) for url in STORED_URLS}
    assert destination(STORED_URLS[0]) == "https://partner.example:8443"  # spot checks
    assert destination(STORED_URLS[4]) == "http://host.example"
    assert destination(STORED_URLS[7]) == "http://h.example"
