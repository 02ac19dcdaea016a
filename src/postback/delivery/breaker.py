"""The circuit breaker of one destination: a pure function of its state and one event.

A destination is ``scheme://host:port`` (:func:`destination`). Its breaker is

* **closed**: deliveries are sent. ``failures`` connection failures or timeouts in a
  row (:attr:`Policy.failures`) open it; any reply closes the count again.
* **open** until ``until``: nothing is sent to it. The worker pushes the destination's
  due deliveries back to ``until`` in bulk, each logged as a *skipped* attempt.
* **half-open** from ``until``: one delivery goes as a probe. A reply closes the
  breaker; a connection failure or timeout opens it again for twice the last cool-down
  (up to :attr:`Policy.max_cooldown`); with nothing to probe with it closes. A probe
  not heard back from within :attr:`Policy.probe_wait` (it was never sent, say) is
  replaced by another.

Only what says the destination is down counts: a connection that cannot be made or
breaks, and no reply in time. An HTTP status, even a 5xx, is a reply: it comes back
quickly, so it costs the worker one short request and no slot held for a timeout; it is
about one endpoint (its path, credentials, payload) while the breaker stands for a whole
host and port shared by many postbacks; and the retry schedule already honours what the
receiver asks for (``Retry-After``). Attempts never sent (the address guard, a template
that cannot render, a slow lane's overflow) say nothing about the destination.

Times are seconds on any clock the caller chooses; this module never reads one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from postback.domain.records import FailureReason


def destination(url: str) -> str:
    """``scheme://host:port`` of a URL (no user info), lower-cased: what a lane and a
    breaker stand for."""
    scheme, _, rest = url.partition("://")
    for mark in "/?#":
        rest = rest.partition(mark)[0]
    return f"{scheme}://{rest.rpartition('@')[2]}".lower()


class Mode(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Signal(StrEnum):
    """What one attempt told about its destination."""

    ANSWERED = "answered"  # a reply, whatever its status
    DEAD = "dead"  # no connection, a broken one, or no reply in time
    NOT_SENT = "not_sent"  # nothing reached the destination: no evidence either way


DEAD_REASONS = frozenset({FailureReason.CONNECTION, FailureReason.TIMEOUT})
NEVER_SENT = frozenset(
    {
        FailureReason.BLOCKED_ADDRESS,
        FailureReason.INVALID_URL,
        FailureReason.INVALID_REQUEST,
        FailureReason.DNS,
        FailureReason.TEMPLATE,
        FailureReason.TOO_LARGE,
        FailureReason.RENDER_FAILED,
    }
)


def signal_of(failure: FailureReason | None, sent: bool = True) -> Signal:
    """The signal of an attempt that ended with ``failure`` (None: a reply came);
    ``sent`` False for an attempt the worker gave up before sending."""
    if not sent or failure in NEVER_SENT:
        return Signal.NOT_SENT
    return Signal.DEAD if failure in DEAD_REASONS else Signal.ANSWERED


@dataclass(frozen=True, slots=True)
class Policy:
    failures: int = 5  # connection failures or timeouts in a row that open it; 0: never
    cooldown: float = 10.0  # seconds open after the first opening
    max_cooldown: float = 600.0  # the longest cool-down, however often probes fail
    probe_wait: float = 120.0  # seconds after which a probe with no result is replaced

    def __post_init__(self) -> None:
        if self.failures < 0 or not 0 < self.cooldown <= self.max_cooldown or self.probe_wait <= 0:
            raise ValueError(f"a breaker needs failures >= 0 and 0 < cooldown <= max: {self}")


@dataclass(frozen=True, slots=True)
class Breaker:
    mode: Mode = Mode.CLOSED
    failures: int = 0  # in a row, while closed
    cooldown: float = 0.0  # of the current (or last) opening
    until: float = 0.0  # open: when a probe may go; half-open: when to probe again

    @property
    def sends(self) -> bool:
        """Whether deliveries to the destination are sent (a probe aside)."""
        return self.mode is Mode.CLOSED


CLOSED = Breaker()


@dataclass(frozen=True, slots=True)
class Sent:
    """An attempt to the destination ended (``probe``: the half-open breaker's probe)."""

    signal: Signal
    at: float
    probe: bool = False


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: an open breaker whose cool-down is over half-opens; a half-open one
    whose probe is overdue probes again."""

    at: float


@dataclass(frozen=True, slots=True)
class NoProbe:
    """The worker found no due delivery to probe the destination with."""

    at: float


Event = Sent | Tick | NoProbe


class Action(StrEnum):
    NONE = "none"
    OPENED = "opened"  # push the destination's due deliveries back to ``until``
    PROBE = "probe"  # send one due delivery to it
    CLOSED = "closed"  # send to it again


@dataclass(frozen=True, slots=True)
class Step:
    state: Breaker
    action: Action = Action.NONE


def step(state: Breaker, event: Event, policy: Policy) -> Step:
    """The breaker after ``event``, and what the worker should do about it."""
    if isinstance(event, Sent):
        return _sent(state, event, policy)
    if isinstance(event, Tick):
        if state.mode is not Mode.CLOSED and event.at >= state.until:
            deadline = event.at + policy.probe_wait
            return Step(Breaker(Mode.HALF_OPEN, 0, state.cooldown, deadline), Action.PROBE)
        return Step(state)
    if state.mode is Mode.HALF_OPEN:  # NoProbe
        return Step(CLOSED, Action.CLOSED)
    return Step(state)


def _sent(state: Breaker, event: Sent, policy: Policy) -> Step:
    if event.signal is Signal.ANSWERED:
        return Step(CLOSED, Action.NONE if state.mode is Mode.CLOSED else Action.CLOSED)
    if state.mode is Mode.CLOSED:
        return _counted(state, event, policy)
    if state.mode is Mode.OPEN or not event.probe:
        return Step(state)  # a send that began before it opened: already known
    if event.signal is Signal.NOT_SENT:  # the probe was not sent: probe again
        return Step(dataclasses.replace(state, mode=Mode.OPEN, until=event.at))
    return _open(min(state.cooldown * 2, policy.max_cooldown), event.at)


def _counted(state: Breaker, event: Sent, policy: Policy) -> Step:
    """Closed: one more dead attempt in a row, which may open it."""
    if event.signal is Signal.NOT_SENT:
        return Step(state)
    failures = state.failures + 1
    if policy.failures and failures >= policy.failures:
        return _open(policy.cooldown, event.at)
    return Step(dataclasses.replace(state, failures=failures))


def _open(cooldown: float, at: float) -> Step:
    return Step(Breaker(Mode.OPEN, 0, cooldown, at + cooldown), Action.OPENED)


PUSH_EVERY = 1.0  # seconds between push-backs of an open destination's newly due work
MAX_KEPT = 4096  # closed breakers remembering failures, kept at most


@dataclass(frozen=True, slots=True)
class Push:
    """Deliveries to move off a destination: its due ones back to ``until`` (None: the
    breaker is no longer open, so only give back ``claimed``), and those this worker
    claimed and did not send."""

    destination: str
    until: float | None
    claimed: tuple[str, ...]


class Breakers:
    """One worker process's breakers by destination, and what is owed to the database
    because of them: the worker's bookkeeping around :func:`step` (no I/O, no clock)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._states: dict[str, Breaker] = {}
        self._probes: set[str] = set()  # delivery ids sent as probes
        self._skipped: dict[str, list[str]] = {}  # claimed, not sent: to push or give back
        self._pushed: dict[str, float] = {}  # when an open one's due work was last pushed
        self.not_closed: frozenset[str] = frozenset()  # what claims leave out

    @property
    def idle(self) -> bool:
        """Nothing open, nothing owed: the worker has nothing to do for its breakers."""
        return not self.not_closed and not self._skipped

    def state(self, key: str) -> Breaker:
        return self._states.get(key, CLOSED)

    def sends(self, key: str, delivery_id: str) -> bool:
        """Whether to send this delivery: the breaker is closed or this is its probe."""
        return key not in self.not_closed or delivery_id in self._probes

    def concerns(self, key: str, signal: Signal) -> bool:
        """Whether recording ``signal`` could change anything: a reply from a destination
        with no breaker state (the usual case) cannot."""
        return signal is not Signal.ANSWERED or key in self._states

    def record(self, key: str, signal: Signal, at: float, delivery_id: str = "") -> Step:
        """An attempt to ``key`` ended with ``signal``."""
        probe = delivery_id in self._probes
        self._probes.discard(delivery_id)
        return self._apply(key, Sent(signal, at, probe))

    def tick(self, at: float) -> list[str]:
        """Open breakers whose cool-down is over half-open (and overdue probes are
        replaced): the destinations to probe now."""
        due = [k for k, s in self._states.items() if not s.sends and at >= s.until]
        return [k for k in due if self._apply(k, Tick(at)).action is Action.PROBE]

    def probe(self, delivery_id: str) -> None:
        self._probes.add(delivery_id)

    def no_probe(self, key: str, at: float) -> Step:
        return self._apply(key, NoProbe(at))

    def skip(self, key: str, delivery_id: str) -> None:
        """A claimed delivery was not sent because the breaker is not closed."""
        self._skipped.setdefault(key, []).append(delivery_id)

    def pushes(self, at: float) -> list[Push]:
        """What to move now: each open destination once a second (at once when it has
        just opened), and every destination with claimed deliveries left unsent."""
        out = []
        for key in set(self._skipped) | {k for k in self.not_closed if self._owes_push(k, at)}:
            state = self.state(key)
            until = state.until if state.mode is Mode.OPEN else None
            out.append(Push(key, until, tuple(self._skipped.pop(key, ()))))
            if until is not None:
                self._pushed[key] = at
        return out

    def unsent(self) -> list[str]:
        """Every claimed delivery left unsent (the worker stops: give them back)."""
        ids = [i for claimed in self._skipped.values() for i in claimed]
        self._skipped.clear()
        return ids

    def wake_at(self) -> float | None:
        """The earliest moment a breaker needs the worker: a probe (or one overdue), or
        a push."""
        times = [s.until for s in self._states.values() if not s.sends]
        opened = [k for k, s in self._states.items() if s.mode is Mode.OPEN]
        times += [self._pushed.get(k, 0.0) + PUSH_EVERY for k in opened]
        return min(times, default=None)

    def _owes_push(self, key: str, at: float) -> bool:
        state = self.state(key)
        return state.mode is Mode.OPEN and at >= self._pushed.get(key, 0.0) + PUSH_EVERY

    def _apply(self, key: str, event: Event) -> Step:
        out = step(self.state(key), event, self.policy)
        if out.state == CLOSED:
            self._states.pop(key, None)
        else:
            if key not in self._states and len(self._states) >= MAX_KEPT:
                self._forget_closed()
            self._states[key] = out.state
        if out.action in (Action.OPENED, Action.CLOSED):
            self._pushed.pop(key, None)  # opened: push at once
        if out.action is not Action.NONE or key in self.not_closed:
            self.not_closed = frozenset(k for k, s in self._states.items() if not s.sends)
        return out

    def _forget_closed(self) -> None:
        for key in [k for k, s in self._states.items() if s.sends]:
            del self._states[key]
