"""CEL libraries side by side on our conditions: correctness, compile time, evaluation time.

Run: ``python benchmarks/cel_candidates.py [--rounds N]`` in an environment where the
candidates are installed (``pip install cel-python common-expression-language
cel-expr-python celparser``); a candidate that is not installed is reported as such.
Not a pytest module (no ``test_`` prefix) and not part of ``python -m benchmarks``.
The result of one run is recorded in ``docs/conditions.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# The event as our conditions see it: parameters already typed the way the spec says
# (text -> string, money -> double, integers -> int, date/time -> timestamp), plus
# ``type``, ``event`` (for has()) and ``items`` (list of maps). Money2 is not carried.
PST = timezone(timedelta(hours=-8))
EVENT: dict[str, Any] = {
    "type": "action.modified",
    "CampaignId": "1234",
    "ActionId": "1000.2000.3000",
    "Status": "APPROVED",
    "Payout": 12.5,
    "DeltaPayout": 0.0,
    "Currency": "USD",
    "Numeric1": 3,
    "Numeric2": 0,
    "iosAdTracking": True,
    "EventDate": datetime(2026, 11, 22, 10, 15, tzinfo=PST),
    "items": [
        {"sku": "GH23", "qty": 1, "amt": 89.9},
        {"sku": "UT66", "qty": 1, "amt": 45.0},
        {"sku": "RW87", "qty": 2, "amt": 7.5},
    ],
}
EVENT["event"] = {k: v for k, v in EVENT.items() if k not in ("type", "items")}

ERROR = object()  # the expected outcome "an evaluation error"
BAD_SYNTAX = object()  # the expected outcome "refused at compile time"
EITHER = object()  # false, an evaluation error or a compile error are all accepted

# (condition, expected): the spec's five examples, then what our conditions rely on.
CASES: list[tuple[str, object]] = [
    ('Status == "APPROVED"', True),
    ('Payout >= 10.0 && Currency == "USD"', True),
    ('CampaignId in ["1234", "5678"]', True),
    ('items.exists(i, i.sku.startsWith("GH"))', True),
    ('type != "action.modified" || DeltaPayout != 0.0', False),
    ("has(event.Status)", True),
    ("has(event.Money2)", False),
    ("Money2 > 1.0", ERROR),  # unbound variable
    ("!has(event.Money2) || Money2 > 1.0", True),  # has() guards it
    ('EventDate > timestamp("2026-11-01T00:00:00Z")', True),
    ('EventDate.getHours("America/Los_Angeles") == 10', True),
    ("Numeric1 > 2 && iosAdTracking", True),
    ("1 / Numeric2 > 0", ERROR),  # division by zero
    # Different types: false under the spec's heterogeneous equality; an older reading
    # (and a type checker, at compile time) makes it an error. Either is accepted.
    ("Status == 1", EITHER),
    ("items.all(i, i.qty >= 1) && size(items) == 3", True),
    ("Status ==", BAD_SYNTAX),
]
# Five conditions timed per event: the spec's examples.
TIMED = [c for c, _ in CASES[:5]]


@dataclass
class Candidate:
    name: str  # PyPI name
    compile: Callable[[str], Any]  # text -> program (raises on a syntax error)
    run: Callable[[Any, dict[str, Any]], Any]  # program, typed event -> result (raises)
    convert: Callable[[dict[str, Any]], Any]  # typed event -> the library's activation


def _rust() -> Candidate:
    import cel

    # One Context per event: the variables are converted to CEL values once, not once
    # per condition.
    return Candidate(
        "common-expression-language",
        cel.compile,
        lambda p, a: p.execute(a),
        cel.Context,
    )


def _celpy() -> Candidate:
    import celpy
    from celpy import celtypes

    env = celpy.Environment()

    def convert(e: dict[str, Any]) -> Any:
        def one(v: Any) -> Any:
            if isinstance(v, datetime):
                return celtypes.TimestampType(v)
            if isinstance(v, dict):
                return celtypes.MapType({celtypes.StringType(k): one(x) for k, x in v.items()})
            if isinstance(v, list):
                return celtypes.ListType([one(x) for x in v])
            return celpy.json_to_cel(v)

        return {k: one(v) for k, v in e.items()}

    def run(p: Any, a: Any) -> Any:
        out = p.evaluate(a)
        if isinstance(out, celpy.CELEvalError):
            raise RuntimeError(str(out.args[0]))
        return out

    return Candidate("cel-python", lambda t: env.program(env.compile(t)), run, convert)


def _google() -> Candidate:
    from cel_expr_python import cel as gcel

    t = gcel.Type
    # Type-checked environment; ``type`` cannot be declared (it is CEL's type() builtin,
    # "variable 'type' declared multiple times"), so it is left undeclared.
    env = gcel.NewEnv(
        variables={
            "CampaignId": t.STRING, "ActionId": t.STRING, "Status": t.STRING,
            "Payout": t.DOUBLE, "DeltaPayout": t.DOUBLE, "Currency": t.STRING,
            "Money2": t.DOUBLE, "Numeric1": t.INT, "Numeric2": t.INT,
            "iosAdTracking": t.BOOL, "EventDate": t.TIMESTAMP,
            "items": t.List(t.Map(t.STRING, t.DYN)), "event": t.Map(t.STRING, t.DYN),
        }
    )  # fmt: skip

    def run(p: Any, a: Any) -> Any:
        out = p.eval(data=a)
        if out.type().name() == "*error*" or str(out.type().name()).lower() == "error":
            raise RuntimeError(str(out.value()))
        return out.value()

    return Candidate("cel-expr-python", env.compile, run, lambda e: e)


def _celparser() -> Candidate:
    import celparser

    return Candidate(
        "celparser",
        lambda t: celparser.compile(t, allow_undeclared_vars=False),
        lambda p, a: p(a),
        lambda e: e,
    )


FACTORIES = [_rust, _celpy, _google, _celparser]


def check(c: Candidate) -> list[str]:
    """The cases a candidate gets wrong, each as one line."""
    wrong = []
    activation = c.convert(EVENT)
    for text, expected in CASES:
        try:
            program = c.compile(text)
        except Exception as exc:
            if expected is not BAD_SYNTAX and expected is not EITHER:
                wrong.append(f"{text}: compile error {type(exc).__name__}: {_short(exc)}")
            continue
        if expected is BAD_SYNTAX:
            wrong.append(f"{text}: compiled")
            continue
        try:
            got: object = c.run(program, activation)
        except Exception as exc:
            if expected is not ERROR and expected is not EITHER:
                wrong.append(f"{text}: {type(exc).__name__}: {_short(exc)}")
            continue
        if expected is EITHER and got is False:
            continue
        if expected is ERROR or expected is EITHER:
            wrong.append(f"{text}: gave {got!r}, expected an error")
        elif not isinstance(got, bool | int) or bool(got) is not expected:
            wrong.append(f"{text}: gave {got!r}, expected {expected}")
    return wrong


def timings(c: Candidate, rounds: int) -> tuple[float, float]:
    """Microseconds: compile one condition; convert an event and evaluate the five."""
    start = time.perf_counter()
    for _ in range(max(1, rounds // 20)):
        for text in TIMED:
            try:
                c.compile(text)
            except Exception:
                continue
    compile_us = (time.perf_counter() - start) / (max(1, rounds // 20) * len(TIMED)) * 1e6
    programs = []
    for text in TIMED:
        try:
            programs.append(c.compile(text))
        except Exception:
            continue
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds // 5):
            activation = c.convert(EVENT)
            for p in programs:
                try:
                    c.run(p, activation)
                except Exception:
                    continue
        samples.append((time.perf_counter() - start) / (rounds // 5) * 1e6)
    return compile_us, statistics.median(samples)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="events evaluated per library")
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {len(CASES)} cases, {args.rounds} events")
    for factory in FACTORIES:
        try:
            c = factory()
        except ImportError as exc:
            print(f"\n## {factory.__name__[1:]}: not installed ({exc})")
            continue
        version = importlib.metadata.version(c.name)
        wrong = check(c)
        compile_us, eval_us = timings(c, args.rounds)
        print(f"\n## {c.name} {version}")
        print(f"correct: {len(CASES) - len(wrong)}/{len(CASES)}")
        for line in wrong:
            print(f"  wrong: {line}")
        print(f"compile: {compile_us:.1f} us per condition")
        print(f"event: {eval_us:.1f} us to convert one event and evaluate {len(TIMED)} conditions")


if __name__ == "__main__":
    main()
