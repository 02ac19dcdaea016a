"""Prometheus metrics of the delivery engine (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ATTEMPTS = Counter("postback_attempts_total", "Delivery attempts by outcome", ["outcome"])
CONDITION_ERRORS = Counter(
    "postback_condition_errors_total",
    "Events whose postback condition could not be evaluated (no delivery was created)",
    ["postback_id"],
)
IN_FLIGHT = Gauge("postback_requests_in_flight", "Requests being sent right now")
SEND_SECONDS = Histogram(
    "postback_send_seconds",
    "Time from connecting to the end of the reply",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
