"""Per-destination lanes in the worker (the fix the fairness benchmark asked for): a
destination that hangs gets at most ``per_destination`` sends and as many waiting; the
rest are given back unsent and not claimed for it while it stays slow, so other
destinations keep their slots."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postback.config import Network
from postback.delivery.breaker import destination
from postback.delivery.queue import AttemptResult, Claim
from postback.delivery.transport import SendResult
from postback.delivery.worker import Lane, Worker, WorkerOptions
from postback.domain.records import (
    DeliveryStatus,
    FailureReason,
    HttpMethod,
    RenderedRequest,
    Reply,
)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://127.0.0.1:8080/ok?a=1", "http://127.0.0.1:8080"),
        ("HTTPS://Partner.Example/pb#x", "https://partner.example"),
        ("https://user:secret@partner.example:8443?x=/", "https://partner.example:8443"),
        ("http://[::1]:81/", "http://[::1]:81"),
    ],
)
def test_a_destination_is_scheme_host_and_port(url: str, key: str) -> None:
    assert destination(url) == key


async def test_a_lane_sends_up_to_its_limit_and_hands_turns_on_in_order() -> None:
    lane = Lane(2)
    first, second = await lane.acquire(0.0, 1.0), await lane.acquire(0.0, 1.0)
    third = asyncio.ensure_future(lane.acquire(0.0, 1.0))
    fourth = asyncio.ensure_future(lane.acquire(0.0, 1.0))
    await asyncio.sleep(0)
    assert first is not None and second is not None
    assert not third.done() and len(lane.waiting) == 2
    lane.release(first, 0.1)
    await asyncio.sleep(0)
    assert third.done() and third.result() is not None and not fourth.done()
    assert lane.typical == pytest.approx(0.02)


def test_one_old_send_among_many_that_end_does_not_make_a_lane_slow() -> None:
    lane = Lane(2)
    lane._take(0.0)  # under way all along
    token = lane._take(0.0)
    for step in range(1, 8):  # the other one ends and is replaced every 50 ms
        lane.release(token, step * 0.05)
        token = lane._take(step * 0.05)
    assert lane.typical < 0.3 and not lane.slow(0.4, 0.3)  # the first is 0.4 s old
    assert lane.slow(0.66, 0.3)  # nothing has ended for 0.3 s: it hangs


async def test_a_full_slow_lane_keeps_only_its_limit_waiting() -> None:
    lane = Lane(2)
    for _ in range(2):
        await lane.acquire(0.0, 0.5)
    waiting = [asyncio.ensure_future(lane.acquire(0.1, 0.5)) for _ in range(5)]
    await asyncio.sleep(0)
    assert not lane.slow(0.4, 0.5) and lane.slow(0.6, 0.5)
    assert lane.shed(0.6, 0.5) == 3
    await asyncio.sleep(0)
    assert [w.done() for w in waiting] == [False, False, True, True, True]
    assert all(w.result() is None for w in waiting[2:])
    assert await lane.acquire(0.7, 0.5) is None  # full, slow, its waiting room full


def _claim(i: int, url: str) -> Claim:
    now = datetime.now(UTC)
    return Claim(
        delivery_id=f"dlv_{i}",
        postback_id="pbk",
        request=RenderedRequest(HttpMethod.GET, url, (), None),
        attempt_number=1,
        retry_round_attempt=1,
        send_at=now,
        lease_until=now + timedelta(seconds=60),
        success_response=None,
        error_response=None,
    )


class FakeStore:
    """Hands out its claims in order (leaving out the destinations a claim skips, as a
    store would), records the results and what was given back."""

    def __init__(self, claims: list[Claim]) -> None:
        self.claims = claims
        self.results: list[AttemptResult] = []
        self.released: list[str] = []
        self.skipped_in_claims: set[str] = set()

    async def claim(
        self, _w: str, _now: datetime, limit: int, _l: float, where: Any = None
    ) -> list[Claim]:
        skip = where.skip if where is not None else frozenset()
        self.skipped_in_claims |= skip
        kept = [c for c in self.claims if destination(c.request.url) not in skip]
        taken = kept[:limit]
        self.claims = [c for c in self.claims if c not in taken]
        return taken

    async def skip_destination(self, *_args: object) -> int:
        return 0

    async def complete(self, results: Sequence[AttemptResult], again: bool = False) -> None:
        self.results.extend(results)

    async def release(self, worker_id: str, delivery_ids: Sequence[str]) -> int:
        self.released.extend(delivery_ids)
        return len(delivery_ids)

    async def next_due_at(self, _skip: object = None) -> datetime | None:
        return None

    async def wait_for_work(self, max_wait: float) -> None:
        await asyncio.sleep(min(max_wait, 0.01))


class FakeTransport:
    """``hang`` hosts answer after 0.5 s with a timeout; others at once with 200."""

    def __init__(self) -> None:
        self.active: Counter[str] = Counter()
        self.most: Counter[str] = Counter()

    async def send(
        self, request: RenderedRequest, delivery_id: str, allowed: tuple[Network, ...] = ()
    ) -> SendResult:
        key = destination(request.url)
        self.active[key] += 1
        self.most[key] = max(self.most[key], self.active[key])
        try:
            if "hang" in key:
                await asyncio.sleep(0.5)
                return SendResult(None, FailureReason.TIMEOUT, "slow", 500.0, datetime.now(UTC))
            await asyncio.sleep(0.001)
            return SendResult(Reply(200, (), b"OK"), None, None, 1.0, datetime.now(UTC))
        finally:
            self.active[key] -= 1

    async def close(self) -> None:
        pass


async def test_a_hanging_destination_does_not_hold_the_workers_slots() -> None:
    claims = [_claim(i, f"http://{'hang' if i % 2 else 'fast'}.example/x?{i}") for i in range(400)]
    store, transport = FakeStore(claims), FakeTransport()
    options = WorkerOptions(
        batch=50, concurrency=40, per_destination=4, slow_after=0.05, idle_wait=0.01
    )
    worker = Worker(store, transport, options)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    loop = asyncio.get_running_loop()
    began = loop.time()
    while sum(r.status is DeliveryStatus.DELIVERED for r in store.results) < 200:
        assert loop.time() - began < 3, "the fast destination was held up"
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert transport.most["http://hang.example"] <= 4 and transport.most["http://fast.example"] <= 4
    # The hanging destination's overflow was given back unsent, with no attempt logged,
    # and claims left it out once it was slow.
    assert worker.shed > 0 and len(store.released) >= worker.shed
    assert "http://hang.example" in store.skipped_in_claims
    assert all(
        r.attempt.reply is not None for r in store.results if "fast" in r.attempt.request.url
    )
    # On stop, those still waiting for their lane are given back, not sent.
    assert len(store.results) + len(store.released) + len(store.claims) == 400
    assert set(store.released).isdisjoint(r.attempt.delivery_id for r in store.results)
