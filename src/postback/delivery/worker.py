"""The delivery worker: claim due deliveries, send them, judge the reply, record it.

Each step is a short method; the decisions (outcome, retry) are pure functions in their
own modules, the database work is the store's and the sending is the transport's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from postback.delivery import outcome, retry
from postback.delivery.metrics import ATTEMPTS, IN_FLIGHT, SEND_SECONDS
from postback.delivery.redact import redact, redact_headers
from postback.delivery.transport import SendResult, Transport, retry_after
from postback.domain import Attempt, FailureReason, Reply
from postback.errors import PostbackError
from postback.storage.base import AttemptResult, Claim, Store

log = logging.getLogger("postback.worker")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    batch: int = 200  # deliveries claimed at most per round trip
    concurrency: int = 512  # requests in flight at most, all destinations together
    lease_seconds: float = 60.0  # a claim not completed by then is taken over
    idle_wait: float = 1.0  # longest sleep with nothing due (a wake-up cuts it short)
    flush_interval: float = 0.02  # results are written in batches at least this often


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


class Worker:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        options: WorkerOptions | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.transport = transport
        self.options = options or WorkerOptions()
        self.clock = clock
        self.id = worker_id()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._results: list[AttemptResult] = []
        self._flushed = asyncio.Event()

    # -- the loop --------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then finish what is in flight and return."""
        flusher = asyncio.create_task(self._flush_loop(stop))
        try:
            while not stop.is_set():
                await self._guarded_round(stop)
        finally:
            await self._drain()
            stop.set()
            await flusher
            await self._flush()

    async def _guarded_round(self, stop: asyncio.Event) -> None:
        """One round; a database error pauses the worker briefly instead of ending it."""
        try:
            await self._round(stop)
        except PostbackError as exc:
            log.warning("worker round failed, retrying shortly: %s", exc)
            await asyncio.sleep(self.options.idle_wait)

    async def _round(self, stop: asyncio.Event) -> None:
        free = self._free_slots()
        if free == 0:
            await self._wait_for_a_slot()
            return
        claims = await self._claim(min(free, self.options.batch))
        for claim in claims:
            self._start(claim)
        if not claims:
            await self._idle(stop)

    def _free_slots(self) -> int:
        return self.options.concurrency - len(self._in_flight)

    async def _wait_for_a_slot(self) -> None:
        await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _claim(self, limit: int) -> list[Claim]:
        return await self.store.claim(self.id, self.clock(), limit, self.options.lease_seconds)

    async def _idle(self, stop: asyncio.Event) -> None:
        wait = self.options.idle_wait
        next_due = await self.store.next_due_at()
        if next_due is not None:
            wait = max(0.0, min(wait, (next_due - self.clock()).total_seconds()))
        if wait > 0:
            waker = asyncio.create_task(self.store.wait_for_work(wait))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waker, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waker, stopper):
                task.cancel()

    def _start(self, claim: Claim) -> None:
        task = asyncio.create_task(self._deliver(claim))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _drain(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))

    # -- one delivery ----------------------------------------------------------------
    async def _deliver(self, claim: Claim) -> None:
        delay = (claim.send_at - self.clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        IN_FLIGHT.inc()
        try:
            sent = await self.transport.send(claim.request, claim.delivery_id)
        finally:
            IN_FLIGHT.dec()
        self._results.append(self._safe_judge(claim, sent))
        if len(self._results) >= self.options.batch:
            self._flushed.set()

    def _safe_judge(self, claim: Claim, sent: SendResult) -> AttemptResult:
        """Judge the reply; a reply that breaks the judging is logged as a failed attempt
        rather than lost, so the delivery still moves through its retries."""
        try:
            return self.judge(claim, sent, random.random())
        except Exception as exc:  # any bug here must not leave the delivery leased forever
            log.exception("could not judge the reply to %s", claim.delivery_id)
            broken = dataclasses.replace(
                sent, reply=None, failure=FailureReason.PROTOCOL, error=f"unreadable reply: {exc}"
            )
            return self.judge(claim, broken, random.random())

    def judge(self, claim: Claim, sent: SendResult, rand: float) -> AttemptResult:
        """Turn what the transport saw into the attempt to log and the decision on it."""
        verdict = outcome.classify(
            sent.reply, sent.failure, claim.success_response, claim.error_response
        )
        status = sent.reply.status if sent.reply is not None else None
        hint = retry_after(sent.reply) if sent.reply is not None else None
        decision = retry.decide(
            claim.retry_round_attempt, verdict, status, hint, self.clock(), rand
        )
        ATTEMPTS.labels(outcome="delivered" if verdict.delivered else str(verdict.reason)).inc()
        SEND_SECONDS.observe(sent.duration_ms / 1000)
        attempt = Attempt(
            delivery_id=claim.delivery_id,
            number=claim.attempt_number,
            started_at=sent.started_at,
            duration_ms=sent.duration_ms,
            request=redact(claim.request),
            reply=_redacted(sent.reply),
            outcome="delivered" if verdict.delivered else str(verdict.reason),
            error=sent.error or (None if verdict.delivered else verdict.detail),
        )
        return AttemptResult(attempt, decision.final_status, decision.next_at, self.id)

    # -- writing results -------------------------------------------------------------
    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed.wait(), self.options.flush_interval)
            self._flushed.clear()
            await self._flush()

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            await self.store.complete(batch)
        except PostbackError as exc:
            # Not lost: the leases run out and the deliveries are claimed and sent again.
            log.error("could not record %d attempts: %s", len(batch), exc)


def _redacted(reply: Reply | None) -> Reply | None:
    """Reply headers are logged with secrets (Set-Cookie, tokens) redacted."""
    if reply is None:
        return None
    return dataclasses.replace(reply, headers=redact_headers(reply.headers))


def lease_for(total_timeout: float) -> float:
    """A lease long enough for the slowest send plus a rate-limit wait and a flush."""
    return total_timeout * 2 + 30
