"""The web screen in a real browser: Debian's Chromium, driven by Playwright, against the
real app (API and a delivery worker) served by uvicorn on loopback, SQLite in a temporary
directory, delivering to its own built-in inbox."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

from tests.apiclient import ADMIN

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INBOX = "/inbox/web-test"
BAD_TEMPLATE = "?a={ActionID}&p={Payout}"
GOOD_TEMPLATE = "?a={ActionId}&p={Payout}"
NAME = "<b>Cashback</b> & co"  # must show as text, never as markup


def _need_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _ok(client: httpx.Client, method: str, path: str, key: str = ADMIN, **kw: Any) -> Any:
    r = client.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kw)
    assert r.status_code < 300, (r.status_code, r.text)
    return r.json()


def _world(client: httpx.Client) -> dict[str, Any]:
    """A brand with a program and an event type; a cashback partner with a contract on it."""
    brand = _ok(client, "POST", "/v1/accounts", json={"name": "Outdoor Co", "kind": "brand"})
    partner = _ok(
        client,
        "POST",
        "/v1/accounts",
        json={"name": "Cashback World", "kind": "partner", "partner_type": "cashback"},
    )
    program = _ok(client, "POST", "/v1/programs", brand["api_key"], json={"name": "Main"})
    event_type = _ok(
        client,
        "POST",
        f"/v1/programs/{program['id']}/event-types",
        brand["api_key"],
        json={"name": "Sale"},
    )
    _ok(
        client,
        "POST",
        "/v1/contracts",
        brand["api_key"],
        json={
            "partner_id": partner["id"],
            "program_id": program["id"],
            "event_type_ids": [event_type["id"]],
        },
    )
    return {"partner": partner, "program": program, "event_type": event_type}


def _event(world: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "action.tracked",
        "occurred_at": "2026-11-23T10:00:00Z",
        "data": {
            "MediaPartnerId": world["partner"]["id"],
            "CampaignId": world["program"]["id"],
            "ActionTrackerId": world["event_type"]["id"],
            "ActionId": "A-77",
            "Payout": "12.5",
            "Amount": "149.9",
        },
    }


def test_sign_in_create_preview_and_read_the_log(server: str, tmp_path: Path) -> None:
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client:
        world = _world(client)
        key = world["partner"]["api_key"]

        with _chromium() as (page, errors):
            _walk_through(page, server, key, client, world)
            shot = tmp_path / "ui.png"
            page.screenshot(path=str(shot), full_page=True)

    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    assert errors == []


def _console(msg: ConsoleMessage, errors: list[str]) -> None:
    # The browser logs every non-2xx fetch; the 422 for the bad template is expected.
    if msg.type == "error" and "status of 422" not in msg.text:
        errors.append(msg.text)


def _walk_through(
    page: Page, server: str, key: str, client: httpx.Client, world: dict[str, Any]
) -> None:
    # / redirects to the page; the key is typed in.
    page.goto(f"{server}/")
    assert page.url == f"{server}/ui"
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#who-name")).to_have_text("Signed in as Cashback World (cashback)")
    expect(page.locator("#postbacks-empty")).to_be_visible()

    # A misspelt parameter: the API's 422 shows under the URL field, with the suggestion
    # and where in the template it is.
    bad_url, good_url = server + INBOX + BAD_TEMPLATE, server + INBOX + GOOD_TEMPLATE
    page.select_option("#f-kind", "action_lifecycle")
    page.fill("#f-name", NAME)
    page.fill("#f-url", bad_url)
    page.fill("#f-max_requests_per_second", "5")
    page.click("#create-form button[type=submit]")
    problem = page.locator("#f-url ~ .field-problem")
    expect(problem).to_contain_text("unknown parameter {ActionID}")
    expect(problem).to_contain_text("did you mean {ActionId}?")
    expect(problem).to_contain_text(f"position {bad_url.index('{ActionID}')}")
    expect(problem.locator("mark")).to_have_text("{")
    expect(page.locator("#f-url")).to_have_class(re.compile(r"\binvalid\b"))

    # Fixed, it is created and listed; its name is shown as text.
    page.fill("#f-url", good_url)
    page.click("#create-form button[type=submit]")
    expect(page.locator("#create-status")).to_contain_text("Created pb_")
    expect(page.locator("#create-form .field-problem")).to_have_count(0)
    row = page.locator("#postbacks tbody tr", has_text=good_url)
    expect(row).to_have_count(1)
    expect(row.locator(".strong")).to_contain_text(NAME)
    expect(row).to_contain_text("≤ 5/s")
    assert page.locator("#postbacks b").count() == 0

    # Preview renders the request for a sample event; Send test sends it and shows the reply.
    row.locator("button.preview").click()
    output = page.locator("#postbacks tr.result .output")
    expect(output.locator("pre.http")).to_contain_text(
        f"GET {server}{INBOX}?a=1000.2000.3000&p=12.50"
    )
    row.locator("button.test").click()
    expect(output.locator(".verdict")).to_contain_text("Delivered in")
    expect(output).to_contain_text('{"status":"received"}')

    # An event through the API: the worker delivers it to the inbox, and the log shows the
    # delivery, its attempt, and sends it again on Redeliver.
    ingested = _ok(client, "POST", "/v1/events", json=_event(world, "evt-web-1"))
    assert ingested["deliveries"] == 1
    page.click(".tab[data-view=deliveries]")
    delivery = page.locator("#deliveries tbody tr", has_text="evt-web-1")
    expect(delivery).to_have_count(1)
    expect(delivery).to_contain_text(f"{server}{INBOX}?a=A-77&p=12.50")
    for _ in range(50):
        if delivery.locator(".badge").inner_text() == "delivered":
            break
        page.wait_for_timeout(200)
        page.click("#refresh-deliveries")
    expect(delivery.locator(".badge")).to_have_text("delivered")
    delivery.click()
    details = page.locator("#delivery")
    expect(details).to_be_visible()
    expect(details.locator("dl.facts")).to_contain_text("evt-web-1")
    expect(details.locator("dl.facts")).to_contain_text("A-77")
    expect(details.locator("details.attempt")).to_have_count(1)
    expect(details.locator("details.attempt summary")).to_contain_text("HTTP 200")
    # Delivered already: Send again asks first (Cancel sends nothing), then "as sent": a
    # new delivery, opened in the panel, linked to the original, both in the log.
    original = page.locator("#delivery-id").inner_text()
    page.click("#redeliver")
    page.click("#redeliver-confirm button.cancel-redeliver")
    expect(page.locator("#redeliver-confirm .confirm-box")).to_have_count(0)
    page.click("#redeliver")
    page.click("#redeliver-confirm button.as-sent")
    expect(page.locator("#delivery-id")).not_to_have_text(original)
    expect(details.locator("dl.facts")).to_contain_text(f"the request of {original}")
    expect(details.locator("details.attempt summary")).to_contain_text("HTTP 200", timeout=30_000)
    expect(delivery).to_have_count(2)

    # The status filter asks the API again.
    page.select_option("#d-status", "failed")
    expect(page.locator("#deliveries-empty")).to_be_visible()
    page.select_option("#d-status", "")
    expect(delivery).to_have_count(2)


@contextmanager
def _chromium() -> Iterator[tuple[Page, list[str]]]:
    """A Chromium page, and the errors it reports (page errors, console errors)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: _console(msg, errors))
            yield page, errors
        finally:
            browser.close()


@contextmanager
def _browser(server: str, key: str) -> Iterator[tuple[Page, list[str]]]:
    """Chromium with a page signed in with ``key``, and the errors the page reported."""
    with _chromium() as (page, errors):
        page.goto(f"{server}/ui")
        page.fill("#key", key)
        page.click("#sign-in-form button[type=submit]")
        expect(page.locator("#who-name")).to_contain_text("Signed in as")
        yield page, errors


def _postback(client: httpx.Client, key: str, postback_id: str) -> Any:
    return _ok(client, "GET", f"/v1/postbacks/{postback_id}", key)


def test_headers_are_stored_and_a_postback_is_edited(server: str) -> None:
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client:
        key = _world(client)["partner"]["api_key"]
        with _browser(server, key) as (page, errors):
            created = _create_with_headers(page, server, client, key)
            _edit_with_a_mistake_then_fix(page, server, client, key, created)
    assert errors == []


def _create_with_headers(page: Page, server: str, client: httpx.Client, key: str) -> str:
    url = server + INBOX + GOOD_TEMPLATE
    page.fill("#f-url", url)
    page.fill("#f-max_requests_per_second", "5")
    page.click("#add-header")
    page.click("#add-header")
    page.click("#add-header")
    rows = page.locator("#f-headers .header-row")
    expect(rows).to_have_count(3)
    rows.nth(0).locator(".header-name").fill("X-Campaign")
    rows.nth(0).locator(".header-value").fill("{CampaignId}")
    rows.nth(1).locator(".header-name").fill("X-Drop-Me")
    rows.nth(1).locator(".header-value").fill("gone")
    rows.nth(2).locator(".header-name").fill("X-Static")
    rows.nth(2).locator(".header-value").fill("abc")
    rows.nth(1).locator(".remove-header").click()
    expect(rows).to_have_count(2)
    page.click("#create-form button[type=submit]")
    expect(page.locator("#create-status")).to_contain_text("Created pb_")
    expect(page.locator("#f-headers .header-row")).to_have_count(0)
    [listed] = _ok(client, "GET", "/v1/postbacks", key)
    assert listed["headers"] == {"X-Campaign": "{CampaignId}", "X-Static": "abc"}
    assert listed["url"] == url and listed["max_requests_per_second"] == 5
    return str(listed["id"])


def _edit_with_a_mistake_then_fix(
    page: Page, server: str, client: httpx.Client, key: str, postback_id: str
) -> None:
    before = _postback(client, key, postback_id)
    row = page.locator(f'#postbacks tbody tr[data-id="{postback_id}"]')
    row.locator("button.edit").click()

    # The same form, prefilled; what cannot change is disabled.
    expect(page.locator("#form-title")).to_contain_text(
        f"Edit postback action_lifecycle ({postback_id})"
    )
    expect(page.locator("#save-postback")).to_have_text("Save changes")
    expect(page.locator("#f-url")).to_have_value(before["url"])
    expect(page.locator("#f-max_requests_per_second")).to_have_value("5")
    expect(page.locator("#f-kind")).to_be_disabled()
    rows = page.locator("#f-headers .header-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".header-name")).to_have_value("X-Campaign")
    expect(rows.nth(0).locator(".header-value")).to_have_value("{CampaignId}")

    # A misspelt parameter in the URL and one in a header value: each problem is shown next
    # to its own field, and nothing is saved.
    bad_url = server + INBOX + BAD_TEMPLATE
    page.fill("#f-url", bad_url)
    rows.nth(1).locator(".header-value").fill("{Payot}")
    page.click("#save-postback")
    problem = page.locator("#f-url ~ .field-problem")
    expect(problem).to_contain_text("unknown parameter {ActionID}")
    expect(problem).to_contain_text(f"position {bad_url.index('{ActionID}')}")
    expect(page.locator("#f-url")).to_have_class(re.compile(r"\binvalid\b"))
    header_problem = rows.nth(1).locator(".field-problem")
    expect(header_problem).to_contain_text("{Payot}")
    expect(header_problem).to_contain_text("position 0")
    expect(rows.nth(1).locator(".header-value")).to_have_class(re.compile(r"\binvalid\b"))
    expect(page.locator("#create-status")).to_have_text("2 problems: see above.")
    assert _postback(client, key, postback_id) == before

    # Fixed, with a name, one header removed and one added, the rate limit cleared: saved
    # with PATCH, the form is a new one again and the list shows the change.
    page.fill("#f-url", server + INBOX + "?action={ActionId}")
    page.fill("#f-name", "Edited")
    page.fill("#f-max_requests_per_second", "")
    rows.nth(0).locator(".remove-header").click()
    page.click("#add-header")
    rows.nth(1).locator(".header-name").fill("Authorization")
    rows.nth(1).locator(".header-value").fill("Bearer {ActionId}")
    rows.nth(0).locator(".header-value").fill("xyz")
    page.click("#save-postback")
    expect(page.locator("#create-status")).to_have_text(f"Saved {postback_id}.")
    expect(page.locator("#form-title")).to_have_text("New postback")
    expect(page.locator("#create-form .field-problem")).to_have_count(0)
    expect(row.locator(".strong")).to_contain_text("Edited")
    expect(row).to_contain_text("no rate limit")
    after = _postback(client, key, postback_id)
    assert after["url"] == server + INBOX + "?action={ActionId}"
    assert after["name"] == "Edited"
    assert after["max_requests_per_second"] is None
    assert after["headers"] == {"X-Static": "xyz", "Authorization": "Bearer {ActionId}"}
    assert after["created_at"] == before["created_at"] and after["kind"] == before["kind"]


def test_delete_asks_first_then_removes_the_postback(server: str) -> None:
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client:
        key = _world(client)["partner"]["api_key"]
        kept, doomed = (
            _ok(
                client,
                "POST",
                "/v1/postbacks",
                key,
                json={"kind": "action_lifecycle", "name": name, "url": f"{server}{INBOX}?n={name}"},
            )["id"]
            for name in ("kept", "doomed")
        )
        with _browser(server, key) as (page, errors):
            row = page.locator(f'#postbacks tbody tr[data-id="{doomed}"]')
            expect(page.locator("#postbacks tbody tr[data-id]")).to_have_count(2)

            # The first click only asks; Cancel keeps it.
            row.locator("button.delete").click()
            confirm = page.locator(f'#postbacks tr.confirm[data-for="{doomed}"]')
            expect(confirm).to_contain_text(f"Delete postback “doomed” ({doomed})?")
            confirm.locator("button.cancel-delete").click()
            expect(confirm).to_have_count(0)
            assert _postback(client, key, doomed)["id"] == doomed
            # From the keyboard: Esc closes it too, and focus goes back to Delete.
            row.locator("button.delete").click()
            expect(confirm.locator("button.cancel-delete")).to_be_focused()
            page.keyboard.press("Escape")
            expect(confirm).to_have_count(0)
            expect(row.locator("button.delete")).to_be_focused()

            # Confirmed, it is gone: from the list and from the API.
            row.locator("button.delete").click()
            confirm.locator("button.confirm-delete").click()
            expect(page.locator("#postbacks-status")).to_have_text(f"Deleted {doomed}.")
            expect(row).to_have_count(0)
            expect(page.locator("#postbacks tbody tr[data-id]")).to_have_count(1)
            expect(page.locator(f'#postbacks tbody tr[data-id="{kept}"]')).to_have_count(1)
            # A disabled postback says so in the list.
            _ok(client, "PATCH", f"/v1/postbacks/{kept}", key, json={"enabled": False})
            page.click("#refresh-postbacks")
            kept_row = page.locator(f'#postbacks tbody tr[data-id="{kept}"]')
            expect(kept_row.locator(".disabled-why")).to_contain_text("disabled")
        r = client.get(f"/v1/postbacks/{doomed}", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 404
        assert [p["id"] for p in _ok(client, "GET", "/v1/postbacks", key)] == [kept]
    assert errors == []
