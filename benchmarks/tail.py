"""Where the time of a delivery goes, stage by stage, from the latency run's three logs:
the injector's commits, the traced worker's timestamps and the receiver's arrivals.

For every traced delivery (after the warm-up), on the wall clock:

    due ─commit─▶ committed ─wait─▶ claim started ─claim─▶ claimed ─to send─▶ send started
        ─arrive─▶ at the receiver            (the latency: these five add up to it)
        ─reply──▶ reply read ─flush─▶ result written        (after it, for the record)

``wait`` is split further into ``notify`` (commit → the first NOTIFY the worker received
after it) and ``woke`` (that NOTIFY → the claim that took the delivery started), when
the NOTIFY came before the claim. Each stage gets its p50/p90/p99; the deliveries at or
above the p99 latency get each stage's mean, so the milliseconds above p90 can be
placed; and for those, how many had a garbage-collector pause or event-loop lag of
5 ms or more while they were on their way. GC pauses and lag are counted over the
traced deliveries' window only (not the worker's start-up).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from benchmarks.common import percentile

IN_LATENCY = ("commit", "wait", "claim", "to_send", "arrive")
AFTER = ("reply", "flush")
SPLIT = ("notify", "woke")
PAUSE = 0.005  # seconds: a GC pause or loop lag this long counts as a stall


def _index(url: str, run: str) -> tuple[int, float] | None:
    """The injector's event number and the due time, from a latency URL."""
    query = parse_qs(urlsplit(url).query)
    key, due = query.get("a", [""])[0], query.get("due", [""])[0]
    if not key.startswith(f"{run}-") or not due:
        return None
    return int(key.rsplit("-", 1)[1]), float(due)


def _committed(batches: Sequence[Sequence[float]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for first, count, _due, done in batches:
        for n in range(int(first), int(first) + int(count)):
            out[n] = done
    return out


def _after(times: list[float], moment: float) -> float | None:
    i = bisect.bisect_left(times, moment)
    return times[i] if i < len(times) else None


def paths(
    injected: dict[str, Any], trace: dict[str, Any], arrived: dict[str, float], since: float
) -> list[dict[str, float]]:
    """One record of stage durations (seconds) per traced delivery due after ``since``."""
    committed = _committed(injected["batches"])
    notifies = sorted(trace["notifies"])
    flushed = {d: end for _start, end, ids in trace["flushes"] for d in ids}
    out = []
    for start, end, ids, urls in trace["claims"]:
        for delivery, url in zip(ids, urls, strict=True):
            found = _index(url, injected["run"])
            sent = trace["sends"].get(delivery)
            if found is None or sent is None or delivery not in arrived:
                continue
            n, due = found
            if due < since or n not in committed:
                continue
            out.append(_stages(due, committed[n], start, end, sent, arrived[delivery]))
            out[-1]["flush"] = flushed.get(delivery, sent[1]) - sent[1]
            notify = _after(notifies, committed[n])
            if notify is not None and notify <= start:
                out[-1]["notify"] = notify - committed[n]
                out[-1]["woke"] = start - notify
    return out


def _stages(
    due: float,
    committed: float,
    start: float,
    end: float,
    sent: Sequence[float],
    arrived: float,
) -> dict[str, float]:
    return {
        "due": due,
        "total": arrived - due,
        "commit": committed - due,
        "wait": start - committed,
        "claim": end - start,
        "to_send": sent[0] - end,
        "arrive": arrived - sent[0],
        "reply": sent[1] - arrived,
    }


def _ms(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(v * 1000 for v in values)
    return {
        "p50": round(percentile(ordered, 0.5), 2),
        "p90": round(percentile(ordered, 0.9), 2),
        "p99": round(percentile(ordered, 0.99), 2),
        "max": round(ordered[-1], 2) if ordered else 0.0,
    }


def _stalled(
    record: dict[str, float], stalls: Sequence[tuple[float, float]], ends: list[float]
) -> bool:
    """Whether a GC pause or loop lag of PAUSE or more overlapped the delivery's path
    (``stalls`` are (end, duration) pairs sorted by end; ``ends`` their ends)."""
    begin, end = record["due"], record["due"] + record["total"]
    i = bisect.bisect_left(ends, begin)
    while i < len(stalls) and stalls[i][0] <= end + 1.0:  # none is longer than a second
        stop, took = stalls[i]
        if took >= PAUSE and stop - took <= end:
            return True
        i += 1
    return False


def breakdown(records: list[dict[str, float]], trace: dict[str, Any]) -> dict[str, Any]:
    """Stage percentiles; each stage's mean among the slowest 1 %; stalls among them."""
    if not records:
        return {"traced": 0}
    totals = sorted(r["total"] for r in records)
    p90, p99 = percentile(totals, 0.90), percentile(totals, 0.99)
    slow = [r for r in records if r["total"] >= p99]
    middle = [r for r in records if r["total"] <= percentile(totals, 0.5)]
    begin = min(r["due"] for r in records)
    end = max(r["due"] + r["total"] for r in records)
    gc_seen = [x for x in trace["gc"] if begin <= x[0] <= end]  # not start-up's
    lag_seen = [(at, took) for at, took in trace["lag"] if begin <= at <= end]
    stalls = sorted([(at, took) for at, took, _gen in gc_seen] + lag_seen)
    starts = [at for at, _ in stalls]
    stages = (*IN_LATENCY, *AFTER, *SPLIT)
    return {
        "traced": len(records),
        "total_ms": _ms(totals),
        "stages_ms": {s: _ms([r[s] for r in records if s in r]) for s in stages},
        "slowest_1pct": {
            "count": len(slow),
            "mean_ms": {s: _mean_ms([r[s] for r in slow if s in r]) for s in stages},
            "with_a_stall": round(sum(_stalled(r, stalls, starts) for r in slow) / len(slow), 3),
        },
        "median_half_mean_ms": {s: _mean_ms([r[s] for r in middle if s in r]) for s in stages},
        "median_half_with_a_stall": round(
            sum(_stalled(r, stalls, starts) for r in middle) / max(1, len(middle)), 3
        ),
        "p90_ms": round(p90 * 1000, 2),
        "window_s": round(end - begin, 1),
        "gc": _pauses([(at, took) for at, took, _ in gc_seen], gc_seen),
        "loop_lag": _pauses(lag_seen, None),
    }


def _mean_ms(values: Sequence[float]) -> float:
    return round(sum(values) * 1000 / len(values), 2) if values else 0.0


def _pauses(
    found: Sequence[tuple[float, float]], gc: Sequence[Sequence[float]] | None
) -> dict[str, Any]:
    took = sorted(t for _, t in found)
    out: dict[str, Any] = {
        "count": len(took),
        "over_5ms": sum(t >= PAUSE for t in took),
        "longest_ms": round(took[-1] * 1000, 2) if took else 0.0,
        "total_ms": round(sum(took) * 1000, 1),
    }
    if gc is not None:
        out["full_collections"] = sum(1 for _, _, gen in gc if gen == 2)
    return out
