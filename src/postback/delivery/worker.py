"""The delivery worker: claim due deliveries, send them, judge the reply, record it.

Each step is a short method; the decisions (outcome, retry) are pure functions in their
own modules, the database work is the store's and the sending is the transport's.

Sends to one destination (``scheme://host:port``) go through its :class:`Lane`: at most
``per_destination`` at once, the rest wait their turn. A destination that is full and
slow (a host that hangs until the timeout) keeps at most that many more waiting; further
deliveries for it are given back unsent (no attempt, lease cleared) and claims leave it
out while it stays slow, instead of filling the worker's slots that other destinations
need.

Each destination also has a circuit breaker (:mod:`postback.delivery.breaker`, per
worker process): after a run of connection failures or timeouts nothing is sent to it
until a probe gets a reply. Meanwhile its due deliveries are moved to the probe time in
bulk, a *skipped* attempt each, claims leave it out, and deliveries already claimed for
it are given back and moved the same way instead of being sent.

Stopping (``stop`` set, e.g. on SIGTERM): no new send starts. Claimed deliveries still
waiting for their rate-limit slot or their lane are given back at once (lease cleared),
so another worker sends them; sends already under way finish within the total timeout.

Results are written in batches. A batch the database refuses (it is restarting, the
connection broke) stays in memory and is written again, with backoff, until the
database takes it; the retry skips attempts an uncertain commit already logged. Dropping
it instead would leave the deliveries leased, and they would be sent a second time when
the leases ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
import os
import random
import socket
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from postback.delivery import outcome, retry, signing
from postback.delivery.breaker import (
    Action,
    Breakers,
    Policy,
    Push,
    Signal,
    Step,
    destination,
    signal_of,
)
from postback.delivery.metrics import (
    ATTEMPTS,
    BREAKER_OPENS,
    BREAKERS_OPEN,
    DELIVERIES,
    IN_FLIGHT,
    RATE_LIMIT_WAIT_SECONDS,
    RATE_LIMIT_WAITS,
    RETRIES,
    SEND_SECONDS,
)
from postback.delivery.queue import (
    ALL_DESTINATIONS,
    AttemptResult,
    Claim,
    Destinations,
    Skip,
    WorkQueue,
)
from postback.delivery.redact import redact, redact_headers
from postback.delivery.transport import SendResult, Transport, as_sent, retry_after
from postback.domain.clock import Clock, utcnow
from postback.domain.records import Attempt, DeliveryStatus, FailureReason, Postback, Reply
from postback.errors import NotFound, PostbackError
from postback.rules import event as events
from postback.rules import postback as rules
from postback.template import TemplateError

log = logging.getLogger("postback.worker")
MAX_LANES = 1024  # idle lanes (remembering a slow destination) kept at most
PER_DESTINATION = 50
MAX_POSTBACKS = 4096  # changed postbacks whose compiled templates a worker keeps
SKIP_BATCH = 5000  # due deliveries of an open destination moved per statement at most
GC_YOUNG = 20_000  # allocations between young garbage collections (see collect_less)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    batch: int = 200  # deliveries claimed at most per round trip
    concurrency: int = 512  # requests in flight at most, all destinations together
    lease_seconds: float = 60.0  # a claim not completed by then is taken over
    idle_wait: float = 1.0  # longest sleep with nothing due (a wake-up cuts it short)
    flush_interval: float = 0.02  # results are written in batches at least this often
    claim_pause: float = 0.02  # longest pause after a claim that found less than it could
    per_destination: int | None = None  # sends at once to one destination (None: 50)
    slow_after: float = 0.25  # seconds per send (or with none ending) making a full lane slow
    flush_retry_max: float = 5.0  # longest wait between tries to write held results
    stop_flush_seconds: float = 15.0  # on stop, how long to keep trying to write them
    breaker: Policy = field(default_factory=Policy)  # each destination's circuit breaker


HALT = object()  # a lane's answer to a waiting send when the worker stops
SKIP = object()  # ... and when the destination's circuit breaker opens


class Unsent(Enum):
    """Why a claimed delivery was not sent."""

    HALTED = "halted"  # the worker stops: give it back
    SKIPPED = "skipped"  # its destination's breaker is open: move it to the probe time
    SHED = "shed"  # its destination is slow and has enough waiting: give it back now


class Lane:
    """Sends to one destination: at most ``limit`` at once, the rest wait in order.

    Times are the event loop's clock. ``typical`` is a moving average of send times,
    ``done_at`` when the last send ended."""

    __slots__ = ("done_at", "limit", "sending", "typical", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sending: dict[object, float] = {}  # token -> start, oldest first
        self.waiting: deque[asyncio.Future[object | None]] = deque()
        self.typical = 0.0
        self.done_at = 0.0

    def slow(self, now: float, slow_after: float) -> bool:
        """Full, and its sends have been taking longer than ``slow_after``, or none has
        ended for that long (it hangs). One old send among many that end does not make
        a destination slow: on a busy machine the worker's own pauses age them all."""
        if len(self.sending) < self.limit:
            return False
        oldest = next(iter(self.sending.values()))
        return self.typical > slow_after or now - max(oldest, self.done_at) > slow_after

    async def acquire(self, now: float, slow_after: float) -> object | None:
        """A token to send with, once it is this delivery's turn; None: shed it."""
        if len(self.sending) < self.limit and not self.waiting:
            return self._take(now)
        if len(self.waiting) >= self.limit and self.slow(now, slow_after):
            return None
        turn: asyncio.Future[object | None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        return await turn

    def release(self, token: object, now: float) -> None:
        """A send is over: note how long it took and let the next waiting one go."""
        self.typical += 0.2 * (now - self.sending.pop(token) - self.typical)
        self.done_at = now
        while self.waiting and len(self.sending) < self.limit:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(self._take(now))

    def halt(self, why: object = HALT) -> None:
        """Every waiting send gives up its turn (none is started), told ``why``: the
        worker stops (HALT) or the destination's breaker opened (SKIP)."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(why)

    def shed(self, now: float, slow_after: float) -> int:
        """When slow, let the newest waiting deliveries beyond ``limit`` go unsent."""
        count = 0
        while len(self.waiting) > self.limit and self.slow(now, slow_after):
            turn = self.waiting.pop()
            if not turn.done():
                turn.set_result(None)
                count += 1
        return count

    def _take(self, now: float) -> object:
        token = object()
        self.sending[token] = now
        return token


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


class Worker:
    def __init__(
        self,
        store: WorkQueue,
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
        self._unstarted: set[asyncio.Task[None]] = set()  # claimed, not yet sending
        self._halting = asyncio.Event()
        self._unsent: list[str] = []  # claimed and given up on stopping: to release
        self._results: list[AttemptResult] = []
        self._held = False  # the last write failed: the results are held for a retry
        self._writing = asyncio.Lock()  # one write at a time: "held" is about all of them
        self._flushed = asyncio.Event()
        self._lanes: dict[str, Lane] = {}
        self._per_destination = self.options.per_destination or PER_DESTINATION
        self.shed = 0  # deliveries given back unsent because their destination was slow
        self._to_give_back: list[str] = []  # ... the ids not given back yet
        self._slow: frozenset[str] = frozenset()  # destinations whose lane is slow
        # postback id -> (its version, compiled templates): each version compiled once
        self._postbacks: dict[str, tuple[Postback, rules.Compiled | None]] = {}
        self._shed_logged, self._shed_log_at = 0, 0.0
        self._claimed_all = False  # the last claim took as many as it asked for
        self._breakers = Breakers(self.options.breaker)
        self._pushing: asyncio.Task[None] | None = None  # moving open destinations' work

    # -- the loop --------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then finish what is in flight and return."""
        flusher = asyncio.create_task(self._flush_loop(stop))
        halter = asyncio.create_task(self._halt_on(stop))
        try:
            while not stop.is_set():
                await self._guarded_round(stop)
        finally:
            halter.cancel()
            if self._pushing is not None:
                await self._pushing  # it gives back what it held if it cannot move it
            await self._halt()
            await self._drain()
            stop.set()
            await flusher
            await self._flush_before_exit()

    async def _guarded_round(self, stop: asyncio.Event) -> None:
        """One round; a database error pauses the worker briefly instead of ending it."""
        try:
            await self._round(stop)
        except PostbackError as exc:
            log.warning("worker round failed, retrying shortly: %s", exc)
            await asyncio.sleep(self.options.idle_wait)

    async def _round(self, stop: asyncio.Event) -> None:
        if self._held and not await self._flush():
            # Held results first: claiming again could take back (and send a second
            # time) deliveries whose attempts are only in memory.
            await asyncio.sleep(self.options.idle_wait)
            return
        await self._tend_breakers()
        await self._give_back_shed()
        self._shed_slow()
        free = self._free_slots()
        if free == 0:
            await self._wait_for_a_slot()
            return
        limit = min(free, self.options.batch)
        claims = await self._claim(limit)
        self._claimed_all = len(claims) == limit
        for claim in claims:
            self._start(claim)
        if not claims:
            await self._idle(stop)
        elif len(claims) < limit:
            # Nothing more is due now, or another worker holds it: a short pause (cut
            # short by new work) instead of claiming again at once, over and over.
            await self.store.wait_for_work(self.options.claim_pause)

    def busy(self) -> bool:
        """Whether more is due than this worker is sending: its last claim got all it
        asked for, or every slot is taken. Work that can wait (retention) waits then."""
        return self._claimed_all or self._free_slots() == 0

    def _free_slots(self) -> int:
        return self.options.concurrency - len(self._in_flight)

    async def _wait_for_a_slot(self) -> None:
        await asyncio.wait(
            self._in_flight, timeout=self.options.slow_after, return_when=asyncio.FIRST_COMPLETED
        )

    def _shed_slow(self) -> None:
        """Shed what waits for slow destinations (and note which are slow, for claims to
        leave out); forget idle lanes when there are many."""
        now = asyncio.get_running_loop().time()
        slow = []
        for key, lane in list(self._lanes.items()):
            lane.shed(now, self.options.slow_after)  # each one counts itself in _deliver
            if lane.slow(now, self.options.slow_after):
                slow.append(key)
            if not lane.sending and len(self._lanes) > MAX_LANES:
                del self._lanes[key]
        self._slow = frozenset(slow)
        if self.shed > self._shed_logged and now >= self._shed_log_at:
            log.info("%d deliveries to slow destinations given back unsent", self.shed)
            self._shed_logged, self._shed_log_at = self.shed, now + 10.0

    async def _give_back_shed(self) -> None:
        """Deliveries shed by a slow destination go back to the queue, due as they were:
        another worker may take them, this one once the destination keeps up again."""
        if not self._to_give_back:
            return
        shed, self._to_give_back = self._to_give_back, []
        try:
            await self.store.release(self.id, shed)
        except PostbackError:
            self._to_give_back[:0] = shed
            raise

    async def _claim(self, limit: int) -> list[Claim]:
        where = self._claimable()
        return await self.store.claim(
            self.id, self.clock(), limit, self.options.lease_seconds, where
        )

    def _claimable(self) -> Destinations:
        skip = self._skipped()
        return Destinations(skip=skip) if skip else ALL_DESTINATIONS

    def _skipped(self) -> frozenset[str]:
        """Destinations claims leave out: open breakers, and lanes that are slow."""
        return self._breakers.not_closed | self._slow if self._slow else self._breakers.not_closed

    async def _idle(self, stop: asyncio.Event) -> None:
        wait = self.options.idle_wait
        now = self.clock()
        next_due = await self.store.next_due_at(self._skipped())
        if next_due is not None:
            wait = max(0.0, min(wait, (next_due - now).total_seconds()))
        if self._slow:  # look again soon: a slow destination may keep up again
            wait = min(wait, self.options.slow_after)
        breaker_due = self._breakers.wake_at()
        if breaker_due is not None:
            wait = max(0.0, min(wait, breaker_due - now.timestamp()))
        if wait > 0:
            waker = asyncio.create_task(self.store.wait_for_work(wait))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waker, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waker, stopper):
                task.cancel()

    def _start(self, claim: Claim) -> None:
        task = asyncio.create_task(self._deliver(claim))
        self._in_flight.add(task)
        self._unstarted.add(task)
        task.add_done_callback(self._in_flight.discard)
        task.add_done_callback(self._unstarted.discard)

    async def _halt_on(self, stop: asyncio.Event) -> None:
        """From the moment ``stop`` is set, no send starts (even from a round under way)."""
        await stop.wait()
        self._stop_sending()

    def _stop_sending(self) -> None:
        self._halting.set()
        for lane in self._lanes.values():
            lane.halt()

    async def _halt(self) -> None:
        """Start no more sends; give back at once what was claimed and not yet sent."""
        self._stop_sending()
        if self._unstarted:
            await asyncio.wait(set(self._unstarted))  # each returns as soon as it wakes
        unsent = [*self._unsent, *self._breakers.unsent(), *self._to_give_back]
        self._unsent, self._to_give_back = [], []
        if not unsent:
            return
        try:
            await self.store.release(self.id, unsent)
            log.info("stopping: gave back %d claimed deliveries not yet sent", len(unsent))
        except PostbackError as exc:
            log.warning(
                "could not give back %d deliveries (their leases will run out): %s",
                len(unsent),
                exc,
            )

    async def _drain(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))

    # -- circuit breakers ------------------------------------------------------------
    async def _tend_breakers(self) -> None:
        """Probe destinations whose cool-down is over; move open ones' due work."""
        if self._breakers.idle:
            return
        now = self.clock()
        for key in self._breakers.tick(now.timestamp()):
            await self._probe(key, now)
        if self._pushing is None or self._pushing.done():
            pushes = self._breakers.pushes(now.timestamp())
            if pushes:
                # Beside the rounds: claims leave those destinations out meanwhile, and
                # moving thousands of rows must not hold up claiming for the others.
                self._pushing = asyncio.create_task(self._push_all(pushes, now))

    async def _push_all(self, pushes: list[Push], now: datetime) -> None:
        for push in pushes:
            try:
                await self._push(push, now)
            except PostbackError as exc:
                log.warning("could not move %s's due deliveries: %s", push.destination, exc)

    async def _probe(self, key: str, now: datetime) -> None:
        lease = self.options.lease_seconds
        found = await self.store.claim(self.id, now, 1, lease, Destinations(only=key))
        if not found:
            self._act(key, self._breakers.no_probe(key, now.timestamp()))
            return
        self._breakers.probe(found[0].delivery_id)
        log.info("probing %s with delivery %s", key, found[0].delivery_id)
        self._start(found[0])

    async def _push(self, push: Push, now: datetime) -> None:
        """Move an open destination's due deliveries to its probe time (those this
        worker claimed among them); once it is no longer open, just give those back."""
        try:
            if push.until is None:
                if push.claimed:
                    await self.store.release(self.id, push.claimed)
                return
            until = datetime.fromtimestamp(push.until, UTC)
            error = _skipped(push.destination, until)
            skip = Skip(push.destination, until, error, self.id, push.claimed)
            moved = await self.store.skip_destination(skip, now, SKIP_BATCH)
        except PostbackError:
            for delivery_id in push.claimed:  # kept for the next push
                self._breakers.skip(push.destination, delivery_id)
            raise
        if moved:
            _attempts_counter("skipped").inc(moved)
            log.info(
                "%d deliveries to %s skipped until %s",
                moved,
                push.destination,
                f"{until:%H:%M:%S} UTC",
                extra={"destination": push.destination, "outcome": "skipped"},
            )

    def _note(self, key: str, delivery_id: str, signal: Signal) -> None:
        """Tell the destination's breaker how an attempt went, and act on its answer."""
        if self._breakers.concerns(key, signal):
            at = self.clock().timestamp()
            self._act(key, self._breakers.record(key, signal, at, delivery_id))

    def _act(self, key: str, step: Step) -> None:
        if step.action is Action.OPENED:
            BREAKER_OPENS.inc()
            lane = self._lanes.get(key)
            if lane is not None:
                lane.halt(SKIP)  # what waits for it goes back, unsent
            until = datetime.fromtimestamp(step.state.until, UTC)
            log.warning(
                "%s is not answering (connection failures or timeouts): nothing is sent "
                "to it until %s, when one delivery will probe it",
                key,
                f"{until:%H:%M:%S} UTC",
                extra={"destination": key},
            )
        elif step.action is Action.CLOSED:
            log.info(
                "%s answers again: sending to it resumes",
                key,
                extra={"destination": key},
            )
        else:
            return
        BREAKERS_OPEN.set(len(self._breakers.not_closed))

    # -- one delivery ----------------------------------------------------------------
    async def _deliver(self, claim: Claim) -> None:
        if not await self._wait_for_slot(claim):  # stopping before it was sent
            self._unsent.append(claim.delivery_id)
            return
        failed: SendResult | None = None
        if claim.postback_version != claim.current_version:
            try:
                claim, failed = await self._render_again(claim)
            except PostbackError as exc:
                # Not lost: the lease runs out and the delivery is claimed again.
                log.error("could not render %s again: %s", claim.delivery_id, exc)
                return
        claim = self.signed(claim)
        key = destination(claim.request.url)
        if failed is not None:
            self._note(key, claim.delivery_id, Signal.NOT_SENT)
        sent = failed or await self._send(claim, key)
        if sent is Unsent.HALTED:
            self._unsent.append(claim.delivery_id)
            return
        if sent is Unsent.SKIPPED:
            self._breakers.skip(key, claim.delivery_id)
            return
        if sent is Unsent.SHED:
            self._to_give_back.append(claim.delivery_id)
            return
        self._results.append(self._safe_judge(claim, sent))
        if len(self._results) >= self.options.batch:
            self._flushed.set()

    async def _render_again(self, claim: Claim) -> tuple[Claim, SendResult | None]:
        """The claim with its request rendered from its stored event by the postback as
        it is now (its templates compiled once per version); or, when the postback
        cannot render this event, the failed result to log instead of sending."""
        try:
            postback, compiled = await self._postback(claim.postback_id, claim.current_version)
        except NotFound:  # deleted since the claim: send what is stored
            return claim, None
        version = dataclasses.replace(claim, current_version=postback.version)
        try:
            if compiled is None:
                raise TemplateError("template", "the postback's templates do not compile")
            event = await self.store.get_event(claim.event_id)
            request = rules.render(postback.config, compiled, events.with_defaults(event))
        except TemplateError as exc:
            error = f"the postback (version {postback.version}) cannot render this event: {exc}"
            return version, SendResult(None, FailureReason.TEMPLATE, error, 0.0, self.clock())
        fresh = dataclasses.replace(
            version, request=request, postback_version=postback.version, replaces=claim.request
        )
        return fresh, None

    async def _postback(
        self, postback_id: str, version: int
    ) -> tuple[Postback, rules.Compiled | None]:
        cached = self._postbacks.get(postback_id)
        if cached is None or cached[0].version < version:
            postback = await self.store.get_postback(postback_id, None)
            compiled, _ = rules.compile_config(postback.config)
            if len(self._postbacks) >= MAX_POSTBACKS:
                self._postbacks.clear()  # rarely reached: only changed postbacks are kept
            cached = self._postbacks[postback_id] = (postback, compiled)
        return cached

    async def _wait_for_slot(self, claim: Claim) -> bool:
        """Wait for the claim's rate-limit slot; False if the worker stops meanwhile."""
        delay = (claim.send_at - self.clock()).total_seconds()
        if delay > 0 and not self._halting.is_set():
            RATE_LIMIT_WAITS.inc()
            RATE_LIMIT_WAIT_SECONDS.inc(delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halting.wait(), delay)
        return not self._halting.is_set()

    async def _send(self, claim: Claim, key: str) -> SendResult | Unsent:
        """Send in the destination's lane; a slow destination's overflow is shed; nothing
        is sent while its breaker is open (a probe aside)."""
        if not self._breakers.sends(key, claim.delivery_id):
            return Unsent.SKIPPED
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(self._per_destination)
        loop = asyncio.get_running_loop()
        token = await lane.acquire(loop.time(), self.options.slow_after)
        if token is HALT or token is SKIP:
            return Unsent.HALTED if token is HALT else Unsent.SKIPPED
        if token is None:
            self.shed += 1
            self._note(key, claim.delivery_id, Signal.NOT_SENT)
            return Unsent.SHED
        if self._halting.is_set() or not self._breakers.sends(key, claim.delivery_id):
            lane.release(token, loop.time())
            return Unsent.HALTED if self._halting.is_set() else Unsent.SKIPPED
        current = asyncio.current_task()
        if current is not None:
            self._unstarted.discard(current)
        IN_FLIGHT.inc()
        try:
            sent = await self.transport.send(
                claim.request, claim.delivery_id, claim.allowed_networks
            )
            self._note(key, claim.delivery_id, signal_of(sent.failure))
            return sent
        finally:
            IN_FLIGHT.dec()
            lane.release(token, loop.time())
            if not lane.sending and lane.typical <= self.options.slow_after:
                self._lanes.pop(key, None)  # a slow one is kept: it remembers being slow

    def signed(self, claim: Claim) -> Claim:
        """The claim with Standard Webhooks headers on its request (as is, unsigned)."""
        if not claim.signing_secrets:
            return claim
        stamp = int(self.clock().timestamp())
        signed = signing.sign(claim.request, claim.delivery_id, stamp, claim.signing_secrets)
        return dataclasses.replace(claim, request=signed)

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
        result = "delivered" if verdict.delivered else str(verdict.reason)
        _attempts_counter(result).inc()
        _deliveries_counter(decision.final_status.value, claim.postback_kind).inc()
        if decision.final_status is DeliveryStatus.RETRYING:
            RETRIES.inc()
        SEND_SECONDS.observe(sent.duration_ms / 1000)
        if not verdict.delivered:
            log.info(
                "attempt %d of %s: %s, now %s",
                claim.attempt_number,
                claim.delivery_id,
                result,
                decision.final_status.value,
                extra={
                    "delivery_id": claim.delivery_id,
                    "postback_id": claim.postback_id,
                    "event_id": claim.event_id or None,
                    "outcome": result,
                },
            )
        attempt = Attempt(
            delivery_id=claim.delivery_id,
            number=claim.attempt_number,
            started_at=sent.started_at,
            duration_ms=sent.duration_ms,
            request=redact(as_sent(claim.request, claim.delivery_id)),
            reply=_redacted(sent.reply),
            outcome="delivered" if verdict.delivered else str(verdict.reason),
            error=sent.error or (None if verdict.delivered else verdict.detail),
            postback_version=claim.current_version,
        )
        old = claim.replaces
        plain = signing.unsigned(claim.request)  # signatures differ on every attempt
        return AttemptResult(
            attempt,
            decision.final_status,
            decision.next_at,
            self.id,
            claim.postback_id,
            rendered=None if old is None else plain,
            replaced=None if old is None or old == plain else redact(old),
        )

    # -- writing results -------------------------------------------------------------
    async def _flush_loop(self, stop: asyncio.Event) -> None:
        wait = self.options.flush_interval
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed.wait(), wait)
            self._flushed.clear()
            written = await self._flush()
            # While the database is away, try again less and less often.
            wait = (
                self.options.flush_interval
                if written
                else min(max(wait * 2, 0.1), self.options.flush_retry_max)
            )

    async def _flush(self) -> bool:
        """Write the results gathered so far; on failure keep them for the next try."""
        async with self._writing:
            return await self._write_results()

    async def _write_results(self) -> bool:
        if not self._results:
            return True
        batch, self._results = self._results, []
        try:
            await self.store.complete(batch, again=self._held)
        except PostbackError as exc:
            # Held, not dropped: dropping would leave them leased, to be sent again.
            self._results[:0] = batch
            if not self._held:
                log.error(
                    "could not record %d attempts, holding them until the database takes them: %s",
                    len(batch),
                    exc,
                )
            self._held = True
            return False
        if self._held:
            log.warning("recorded %d held attempts: the database is back", len(batch))
        self._held = False
        return True

    async def _flush_before_exit(self) -> None:
        """Last writes on stopping: keep trying for a while if the database is away."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.options.stop_flush_seconds
        wait = 0.1
        while not await self._flush():
            if loop.time() + wait > end:
                log.error("exiting with %d attempts not recorded", len(self._results))
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, self.options.flush_retry_max)


@functools.cache  # every attempt is counted: the labelled counter is looked up once
def _attempts_counter(outcome: str) -> Any:
    return ATTEMPTS.labels(outcome=outcome)


@functools.cache
def _deliveries_counter(status: str, kind: str) -> Any:
    return DELIVERIES.labels(outcome=status, kind=kind or "unknown")


def _skipped(key: str, until: datetime) -> str:
    """The error of a skipped attempt."""
    return (
        f"not sent: {key} is not answering (connection failures or timeouts), so its "
        f"circuit breaker is open; next try after {until:%Y-%m-%d %H:%M:%S} UTC"
    )


def _redacted(reply: Reply | None) -> Reply | None:
    """Reply headers are logged with secrets (Set-Cookie, tokens) redacted."""
    if reply is None:
        return None
    headers = redact_headers(reply.headers)
    return reply if headers is reply.headers else dataclasses.replace(reply, headers=headers)


def collect_less() -> None:
    """Tune the garbage collector for a process that delivers (call once, after start-up).

    What start-up made lives as long as the process: frozen, full collections do not walk
    it. Young collections come after GC_YOUNG allocations instead of CPython's 700: a
    worker keeps hundreds of deliveries in flight, each a few dozen objects alive for
    milliseconds, so at 700 nearly every delivery crossed a collection, survived it and
    was promoted, and the promoted ones brought on full collections (docs/performance.md,
    third round)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


def lease_for(total_timeout: float) -> float:
    """A lease long enough for the slowest send plus a rate-limit wait and a flush."""
    return total_timeout * 2 + 30
