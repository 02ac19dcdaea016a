"""/metrics: the delivery engine's metrics by name, moved by real deliveries (a worker
in this process, a receiver on loopback), read over HTTP and parsed as Prometheus text."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from postback.domain.records import DeliveryStatus
from tests.apiclient import Api, running_api
from tests.e2e.receiver import receiver
from tests.e2e.rig import rig, status_is


async def _scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    found = {}
    families = list(text_string_to_metric_families(r.text))
    kinds = {f.name: f.type for f in families}
    assert kinds["postback_attempts"] == "counter"
    assert kinds["postback_requests_in_flight"] == "gauge"
    assert kinds["postback_send_seconds"] == "histogram"
    for family in families:
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_deliveries_move_the_counters(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/metrics.db"
    async with receiver() as rec, rig(url) as r, running_api(url) as api:
        before = await _scrape(api)
        families = {name for name, _ in before}
        assert {
            "postback_requests_in_flight",
            "postback_send_seconds_count",
            "postback_send_seconds_bucket",
        } <= families
        rec.script("/ok", (200, "OK", {}))
        rec.script("/down", (503, "down", {}))
        await r.postback(rec.url("/ok?a={ActionId}"))
        await r.event(action_id="M-1")
        await r.until(status_is(DeliveryStatus.DELIVERED))
        after = await _scrape(api)
        assert _value(after, "postback_attempts_total", outcome="delivered") == (
            _value(before, "postback_attempts_total", outcome="delivered") + 1
        )
        assert _value(after, "postback_send_seconds_count") == (
            _value(before, "postback_send_seconds_count") + 1
        )
        assert _value(after, "postback_requests_in_flight") == 0
        await r.postback(rec.url("/down?a={ActionId}"))
        await r.event(action_id="M-2")
        await r.until(lambda found: any(d.status is DeliveryStatus.RETRYING for d in found))
        failed = await _scrape(api)
        assert _value(failed, "postback_attempts_total", outcome="status") == (
            _value(after, "postback_attempts_total", outcome="status") + 1
        )
