"""Prometheus metrics of the delivery engine.

Served at /metrics by `serve`, and by `postback worker --metrics-port`."""

from __future__ import annotations

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

ATTEMPTS = Counter("postback_attempts_total", "Delivery attempts by outcome", ["outcome"])
DELIVERIES = Counter(
    "postback_deliveries_total",
    "Attempts judged, by the delivery's new status (delivered, retrying, failed) and the "
    "postback's kind",
    ["outcome", "kind"],
)
RETRIES = Counter("postback_retries_total", "Retries scheduled after a failed attempt")
RATE_LIMIT_WAITS = Counter(
    "postback_rate_limit_waits_total", "Sends that waited for their postback's rate-limit slot"
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "postback_rate_limit_wait_seconds_total", "Time sends spent waiting for a rate-limit slot"
)
CONDITION_ERRORS = Counter(
    "postback_condition_errors_total",
    "Events whose postback condition could not be evaluated (no delivery was created)",
    ["postback_id"],
)
BREAKER_OPENS = Counter(
    "postback_breaker_opens_total",
    "Times a destination's circuit breaker opened (connection failures or timeouts in a "
    "row, or a failed probe); skipped attempts count in postback_attempts_total",
)
BREAKERS_OPEN = Gauge(
    "postback_breakers_open",
    "Destinations whose circuit breaker is open or half-open in this process",
)
# multiprocess_mode: how the processes' values add up under `--processes N` (else unused).
IN_FLIGHT = Gauge(
    "postback_requests_in_flight", "Requests being sent right now", multiprocess_mode="livesum"
)
SEND_SECONDS = Histogram(
    "postback_send_seconds",
    "Attempt duration: from connecting to the end of the reply",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
BACKLOG = Gauge(
    "postback_due_backlog",
    "Deliveries due now and not finished (counted up to BACKLOG_CAP), by a periodic query",
    multiprocess_mode="livemax",  # every process measures the same database
)
OLDEST_DUE_AGE = Gauge(
    "postback_oldest_due_age_seconds",
    "How long the oldest due delivery has been due",
    multiprocess_mode="livemax",
)
BACKLOG_CAP = 100_000  # counting further would cost more than the figure is worth


def registry() -> CollectorRegistry:
    """This process's metrics; with ``PROMETHEUS_MULTIPROC_DIR`` set (``--processes``),
    those of every process writing to that folder, added up."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return REGISTRY
    shared = CollectorRegistry()
    multiprocess.MultiProcessCollector(shared, folder)  # type: ignore[no-untyped-call]
    return shared


def latest() -> bytes:
    """The metrics as Prometheus text (what /metrics answers)."""
    return generate_latest(registry())


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve the metrics at ``http://host:port/metrics`` (a daemon thread)."""
    start_http_server(port, addr=host, registry=registry())
