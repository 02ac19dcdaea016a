"""The circuit breaker's decisions (pure): examples, then properties over any sequence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.delivery.breaker import (
    CLOSED,
    Action,
    Breaker,
    Breakers,
    Mode,
    NoProbe,
    Policy,
    Push,
    Sent,
    Signal,
    Tick,
    destination,
    signal_of,
    step,
)
from postback.domain.records import FailureReason

POLICY = Policy(failures=3, cooldown=10.0, max_cooldown=60.0)
DEAD, ANSWERED, NOT_SENT = Signal.DEAD, Signal.ANSWERED, Signal.NOT_SENT


def run(events: list[Sent | Tick | NoProbe], policy: Policy = POLICY) -> list[Action]:
    state, actions = CLOSED, []
    for event in events:
        out = step(state, event, policy)
        state = out.state
        actions.append(out.action)
    return actions


def test_it_opens_after_so_many_dead_attempts_in_a_row() -> None:
    state = CLOSED
    for at in (1.0, 2.0):
        state = step(state, Sent(DEAD, at), POLICY).state
        assert state.sends and state.failures == at
    out = step(state, Sent(DEAD, 3.0), POLICY)
    assert out.action is Action.OPENED
    assert out.state == Breaker(Mode.OPEN, 0, 10.0, 13.0) and not out.state.sends


def test_a_reply_resets_the_count_and_not_sent_attempts_do_not_count() -> None:
    events = [Sent(DEAD, 1), Sent(DEAD, 2), Sent(ANSWERED, 3), Sent(DEAD, 4), Sent(DEAD, 5)]
    events += [Sent(NOT_SENT, 6) for _ in range(10)]
    assert Action.OPENED not in run(events)
    assert run([*events, Sent(DEAD, 7)])[-1] is Action.OPENED


def test_half_open_after_the_cool_down_then_a_reply_closes_it() -> None:
    opened = step(Breaker(failures=2), Sent(DEAD, 0.0), POLICY).state
    assert step(opened, Tick(9.99), POLICY) == step(opened, Tick(9.99), POLICY)
    assert step(opened, Tick(9.99), POLICY).action is Action.NONE
    half = step(opened, Tick(10.0), POLICY)
    assert half.action is Action.PROBE and half.state.mode is Mode.HALF_OPEN
    assert not half.state.sends
    closed = step(half.state, Sent(ANSWERED, 10.5), POLICY)
    assert closed == step(half.state, Sent(ANSWERED, 10.5), POLICY)
    assert closed.action is Action.CLOSED and closed.state == CLOSED


def test_a_failed_probe_doubles_the_cool_down_up_to_the_cap() -> None:
    state = step(Breaker(failures=2), Sent(DEAD, 0.0), POLICY).state
    seen = []
    for _ in range(5):
        failed_at = state.until + 1
        state = step(state, Tick(state.until), POLICY).state
        out = step(state, Sent(DEAD, failed_at, probe=True), POLICY)
        assert out.action is Action.OPENED
        state = out.state
        seen.append(state.cooldown)
        assert state.until == failed_at + state.cooldown
    assert seen == [20.0, 40.0, 60.0, 60.0, 60.0]


def test_a_probe_never_heard_from_is_replaced() -> None:
    state = step(Breaker(failures=2), Sent(DEAD, 0.0), POLICY).state
    half = step(state, Tick(10.0), POLICY)
    assert half.state.until == 10.0 + POLICY.probe_wait
    assert step(half.state, Tick(10.0 + POLICY.probe_wait - 1), POLICY).action is Action.NONE
    again = step(half.state, Tick(10.0 + POLICY.probe_wait), POLICY)
    assert again.action is Action.PROBE and again.state.mode is Mode.HALF_OPEN
    assert again.state.cooldown == 10.0  # still the first cool-down's


def test_a_probe_not_sent_is_tried_again_and_no_probe_closes() -> None:
    state = step(Breaker(failures=2), Sent(DEAD, 0.0), POLICY).state
    half = step(state, Tick(10.0), POLICY).state
    assert step(half, Sent(NOT_SENT, 11.0), POLICY).state == half  # not the probe's
    assert step(half, Sent(DEAD, 11.0), POLICY).state == half  # begun before it opened
    again = step(half, Sent(NOT_SENT, 11.0, probe=True), POLICY)
    assert again.state == Breaker(Mode.OPEN, 0, 10.0, 11.0) and again.action is Action.NONE
    assert step(half, NoProbe(11.0), POLICY) == step(half, NoProbe(11.0), POLICY)
    assert step(half, NoProbe(11.0), POLICY).state == CLOSED
    assert step(state, NoProbe(11.0), POLICY).state == state  # only a half-open one


def test_late_results_while_open_change_nothing_but_a_reply() -> None:
    state = step(Breaker(failures=2), Sent(DEAD, 0.0), POLICY).state
    assert step(state, Sent(DEAD, 1.0), POLICY).state == state
    assert step(state, Sent(ANSWERED, 1.0), POLICY).state == CLOSED


def test_zero_failures_turns_it_off() -> None:
    off = Policy(failures=0)
    assert Action.OPENED not in run([Sent(DEAD, float(i)) for i in range(100)], off)


@pytest.mark.parametrize(
    "policy",
    [{"failures": -1}, {"cooldown": 0}, {"cooldown": 10, "max_cooldown": 5}, {"probe_wait": 0}],
)
def test_a_policy_must_make_sense(policy: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="breaker"):
        Policy(**policy)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failure", "sent", "signal"),
    [
        (None, True, ANSWERED),
        (FailureReason.STATUS, True, ANSWERED),
        (FailureReason.SUCCESS_TEXT_MISSING, True, ANSWERED),
        (FailureReason.PROTOCOL, True, ANSWERED),
        (FailureReason.TIMEOUT, True, DEAD),
        (FailureReason.CONNECTION, True, DEAD),
        (FailureReason.TIMEOUT, False, NOT_SENT),  # a slow lane's overflow
        (FailureReason.DNS, True, NOT_SENT),
        (FailureReason.BLOCKED_ADDRESS, True, NOT_SENT),
        (FailureReason.TEMPLATE, True, NOT_SENT),
    ],
)
def test_what_counts(failure: FailureReason | None, sent: bool, signal: Signal) -> None:
    assert signal_of(failure, sent) is signal


# -- properties ---------------------------------------------------------------------------
policies = st.builds(
    lambda n, c, k: Policy(failures=n, cooldown=c, max_cooldown=c * k),
    st.integers(0, 6),
    st.floats(0.1, 100),
    st.floats(1, 100),
)
signals = st.sampled_from(list(Signal))
events = st.lists(
    st.tuples(st.sampled_from(["sent", "probe", "tick", "none"]), signals, st.floats(0, 50)),
    max_size=60,
)


def _event(kind: str, signal: Signal, at: float) -> Sent | Tick | NoProbe:
    if kind in ("sent", "probe"):
        return Sent(signal, at, kind == "probe")
    return Tick(at) if kind == "tick" else NoProbe(at)


@given(policies, events)
def test_every_step_keeps_the_invariants(
    policy: Policy, raw: list[tuple[str, Signal, float]]
) -> None:
    state, at, dead_in_a_row = CLOSED, 0.0, 0
    for kind, signal, gap in raw:
        at += gap  # time moves forward
        event = _event(kind, signal, at)
        out = step(state, event, policy)
        new = out.state
        assert new.sends == (new.mode is Mode.CLOSED)
        if new.mode is Mode.CLOSED:
            assert new.cooldown == 0 and (policy.failures == 0 or new.failures < policy.failures)
        else:
            assert policy.cooldown <= new.cooldown <= policy.max_cooldown
        if state.mode is Mode.HALF_OPEN and isinstance(event, Sent) and not event.probe:
            assert new == state or new == CLOSED  # only a reply counts, or the probe
        if out.action is Action.OPENED:
            assert new.mode is Mode.OPEN and new.until == at + new.cooldown
            expected = policy.cooldown if state.mode is Mode.CLOSED else state.cooldown * 2
            assert new.cooldown == min(expected, policy.max_cooldown)
        if out.action is Action.PROBE:
            assert isinstance(event, Tick) and new.mode is Mode.HALF_OPEN
            assert new.until == at + policy.probe_wait and state.mode is not Mode.CLOSED
        if new.mode is Mode.HALF_OPEN and state.mode is not Mode.HALF_OPEN:
            assert out.action is Action.PROBE
        assert (out.action is Action.CLOSED) == (new.sends and not state.sends)
        # Opening from closed takes exactly `failures` dead attempts with no reply between.
        if state.mode is Mode.CLOSED and isinstance(event, Sent):
            if signal is Signal.ANSWERED:
                dead_in_a_row = 0
            elif signal is Signal.DEAD:
                dead_in_a_row += 1
            opened = out.action is Action.OPENED
            assert opened == (policy.failures > 0 and dead_in_a_row == policy.failures)
            if opened:
                dead_in_a_row = 0
        if isinstance(event, Sent) and signal is Signal.ANSWERED:
            assert new == CLOSED
            dead_in_a_row = 0
        state = new


@given(policies, st.integers(0, 12))
def test_cool_downs_double_from_the_first_and_stop_at_the_cap(policy: Policy, probes: int) -> None:
    state, at = Breaker(failures=max(0, policy.failures - 1)), 0.0
    if policy.failures == 0:
        return
    state = step(state, Sent(DEAD, at), policy).state
    for n in range(probes):
        at = state.until
        state = step(step(state, Tick(at), policy).state, Sent(DEAD, at, True), policy).state
        assert state.cooldown == min(policy.cooldown * 2 ** (n + 1), policy.max_cooldown)


# -- the worker's bookkeeping ---------------------------------------------------------------
def test_the_registry_tracks_what_claims_leave_out_and_what_to_push() -> None:
    b = Breakers(POLICY)
    key = "http://127.0.0.1:9"
    assert b.sends(key, "d1") and b.pushes(0.0) == [] and b.wake_at() is None
    for i in range(3):
        b.record(key, DEAD, float(i))
    assert b.not_closed == {key} and not b.sends(key, "d1")
    b.skip(key, "d1")
    assert b.pushes(2.0) == [Push(key, 12.0, ("d1",))]  # at once after opening
    assert b.pushes(2.5) == []
    assert b.wake_at() == 3.0  # the next push, before the probe at 12
    assert b.pushes(3.0) == [Push(key, 12.0, ())]
    assert b.tick(11.9) == [] and b.tick(12.0) == [key]
    b.probe("d2")
    assert b.sends(key, "d2") and not b.sends(key, "d3")
    assert b.wake_at() == 12.0 + POLICY.probe_wait  # when d2 counts as lost
    b.skip(key, "d3")
    assert b.pushes(12.5) == [Push(key, None, ("d3",))]  # half-open: only given back
    assert b.record(key, ANSWERED, 13.0, "d2").action is Action.CLOSED
    assert b.not_closed == frozenset() and b.sends(key, "d3") and b.state(key) == CLOSED


def test_a_reply_from_a_destination_without_state_concerns_no_breaker() -> None:
    b = Breakers(POLICY)
    assert not b.concerns("http://a", ANSWERED)
    assert b.concerns("http://a", DEAD) and b.concerns("http://a", NOT_SENT)
    b.record("http://a", DEAD, 0.0)
    assert b.concerns("http://a", ANSWERED)  # it resets the count
    b.record("http://a", ANSWERED, 1.0)
    assert not b.concerns("http://a", ANSWERED)


def test_a_stopping_worker_gets_back_every_unsent_claim() -> None:
    b = Breakers(POLICY)
    b.skip("http://a", "d1")
    b.skip("http://b", "d2")
    assert sorted(b.unsent()) == ["d1", "d2"] and b.pushes(0.0) == []


def test_a_destination_is_scheme_host_and_port_lower_cased() -> None:
    assert destination("HTTPS://u:p@Partner.Example:8443/pb?x=http://other#f") == (
        "https://partner.example:8443"
    )
