"""Per-destination lanes in the worker (the fix the fairness benchmark asked for): a
destination that hangs gets at most ``per_destination`` sends and as many waiting; the
rest fail at once, unsent, as timeout attempts, so other destinations keep their slots."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

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
    """Hands out its claims in order, records the results."""

    def __init__(self, claims: list[Claim]) -> None:
        self.claims = claims
        self.results: list[AttemptResult] = []
        self.released: list[str] = []

    async def claim(
        self, _w: str, _now: datetime, limit: int, _l: float, _where: object = None
    ) -> list[Claim]:
        taken, self.claims = self.claims[:limit], self.claims[limit:]
        return taken

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
    unsent = [r for r in store.results if r.attempt.error and "not sent" in r.attempt.error]
    assert unsent and worker.shed == len(unsent)
    assert all(r.attempt.outcome == "timeout" and r.attempt.reply is None for r in unsent)
    assert all(r.status is DeliveryStatus.RETRYING for r in unsent)
    # On stop, those still waiting for their lane are given back, not sent.
    assert len(store.results) + len(store.released) == 400
