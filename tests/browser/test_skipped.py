"""A skipped attempt in the web screen's log: a postback to a dead loopback port opens
its destination's circuit breaker, the next delivery is skipped, and the log says so in
plain words, as neither delivered nor failed."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.test_web import _browser, _event, _need_chromium, _ok, _world


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _deliveries(client: httpx.Client, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _ok(client, "GET", "/v1/deliveries", key)["items"]
    return found


def _event_for(world: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An event of its own action (deliveries of one action go one after another)."""
    event = _event(world, event_id)
    event["data"]["ActionId"] = event_id
    return event


def _wait(client: httpx.Client, key: str, check: Any) -> list[dict[str, Any]]:
    for _ in range(200):
        found = _deliveries(client, key)
        if check(found):
            return found
        time.sleep(0.1)
    raise AssertionError(found)


def test_a_skipped_attempt_reads_as_not_sent(server: str) -> None:
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client:
        world = _world(client)
        key = world["partner"]["api_key"]
        url = f"http://127.0.0.1:{_dead_port()}/pb?a={{ActionId}}"
        _ok(client, "POST", "/v1/postbacks", key, json={"kind": "action_lifecycle", "url": url})
        for n in range(5):  # five refused connections in a row open the breaker
            _ok(client, "POST", "/v1/events", json=_event_for(world, f"evt-dead-{n}"))
        _wait(client, key, lambda f: len(f) == 5 and all(d["attempt_count"] == 1 for d in f))
        _ok(client, "POST", "/v1/events", json=_event_for(world, "evt-held"))
        found = _wait(client, key, lambda f: len(f) == 6 and all(d["attempt_count"] for d in f))
        [held] = [d for d in found if d["event_id"] == "evt-held"]
        detail = _ok(client, "GET", f"/v1/deliveries/{held['id']}", key)
        assert [a["outcome"] for a in detail["attempts"]] == ["skipped"]
        assert detail["status"] == "retrying"

        with _browser(server, key) as (page, errors):
            page.click(".tab[data-view=deliveries]")
            row = page.locator("#deliveries tbody tr", has_text="evt-held")
            expect(row).to_have_count(1)
            row.click()
            attempt = page.locator("#delivery details.attempt")
            expect(attempt).to_have_count(1)
            expect(attempt.locator(".badge")).to_have_text("skipped")
            expect(attempt.locator(".outcome")).to_contain_text(
                "Not sent: the receiver's address was not answering"
            )
            expect(attempt.locator(".outcome")).to_contain_text("circuit breaker is open")
            facts = page.locator("#delivery dl.facts")
            expect(facts).to_contain_text("This does not use up a retry")
        assert errors == []
