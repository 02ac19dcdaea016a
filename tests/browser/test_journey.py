"""The whole job on the screen, as the issue walks it: the operator makes a brand and a
partner; the brand sets up a program, event types, a contract and a media source, then
postbacks from pickers; the partner writes a template with the parameter list and the live
preview, tests it to the built-in inbox and saves; the log is filtered, a delivery opened
in its side panel (its own URL), and what matches replayed. Every screen is checked with
axe-core (no serious or critical violations), wide and at 390 px.

Screenshots go to a temporary directory, or to docs/screenshots/ with
POSTBACK_SCREENSHOTS=1 (how the README's pictures are made)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.apiclient import ADMIN, free_port
from tests.browser.test_web import ARGS, CHROMIUM, _need_chromium, _ok

AXE = Path(__file__).with_name("axe.min.js")
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
REPO = Path(__file__).resolve().parents[2]


def _console(msg: ConsoleMessage, errors: list[str]) -> None:
    # The browser logs every non-2xx fetch: 422s are shown to the user on purpose.
    if msg.type == "error" and "status of 422" not in msg.text:
        errors.append(msg.text)


@contextmanager
def _browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def _page(browser: Browser, errors: list[str], viewport: dict[str, int] = WIDE) -> Iterator[Page]:
    # The page's CSP allows only its own scripts; axe is injected by the test, so the
    # test's context bypasses the CSP (the page under test is unchanged).
    context = browser.new_context(viewport=viewport, bypass_csp=True)  # type: ignore[arg-type]
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: _console(msg, errors))
    try:
        yield page
    finally:
        context.close()


def _sign_in(page: Page, server: str, key: str, hash_: str = "") -> None:
    # Signed in already: sign out first, as a person would (clearing the stored key under
    # a running page sent its next requests without a key: a 401 in the console).
    if page.url.startswith(server) and page.locator("#sign-out").is_visible():
        page.click("#sign-out")
    page.goto(f"{server}/ui{hash_}")
    page.evaluate("sessionStorage.clear()")
    page.reload()
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#who-name")).to_contain_text("Signed in as")


def _axe(page: Page, where: str) -> None:
    """No serious or critical accessibility violations on what is shown now."""
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(content=AXE.read_text())
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    assert found == [], f"{where}: {json.dumps(found, indent=1)}"


def _shots_dir(tmp_path: Path) -> Path:
    if os.environ.get("POSTBACK_SCREENSHOTS") == "1":
        return REPO / "docs" / "screenshots"
    return tmp_path


def _shoot(browser: Browser, page: Page, name: str, out: Path, errors: list[str]) -> None:
    """The screen wide and at 390 px: one column, nothing wider than the phone, axe clean."""
    page.evaluate("window.scrollTo(0, 0)")  # sticky side panels drawn where they start
    page.screenshot(path=str(out / f"{name}-wide.png"), full_page=True)
    _axe(page, name + " (wide)")
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(150)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    if overflow > NARROW["width"]:
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > 390).slice(-8)"
            ".map(e => `${e.tagName}#${e.id}.${e.className}@${e.getBoundingClientRect().right}`)"
        )
        raise AssertionError(f"{name}: the page is {overflow} px wide at 390 px: {wide}")
    page.screenshot(path=str(out / f"{name}-390.png"), full_page=True)
    _axe(page, name + " (390 px)")
    page.set_viewport_size(WIDE)


def _setup_as_operator(
    browser: Browser, server: str, out: Path, errors: list[str]
) -> dict[str, str]:
    keys: dict[str, str] = {}
    with _page(browser, errors) as page:
        _sign_in(page, server, ADMIN)
        expect(page.locator("#view-setup")).to_be_visible()
        expect(page.locator("#setup-body")).to_contain_text("No accounts yet")
        for name, kind, ptype in (
            ("Outdoor Co", "brand", None),
            ("Cashback World", "partner", "cashback"),
        ):
            page.fill("#a-name", name)
            page.select_option("#a-kind", kind)
            if ptype:
                page.select_option("#a-partner_type", ptype)
            page.click("#account-form button[type=submit]")
            expect(page.locator("#account-form-status")).to_contain_text(f"Created {name}")
            keys[kind] = page.locator("#new-key").input_value()
            assert keys[kind].startswith("pbk_")
        expect(page.locator("#accounts-list tbody tr")).to_have_count(2)
        # A name left blank is refused under its own field.
        page.click("#account-form button[type=submit]")
        expect(page.locator("#a-name")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#a-name ~ .field-problem")).to_have_text(
            "Required: this cannot be left blank."
        )
        # Keys: a second key for the brand, shown once; the first one revoked.
        keys_button = page.locator("#accounts-list button[aria-label='Keys of Outdoor Co']")
        keys_button.click()
        panel = page.locator("#keys-panel")
        expect(panel.locator("h3")).to_be_focused()
        rows = panel.locator("tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(keys["brand"][:8])
        page.click("#keys-panel button:text('New key')")
        second = page.locator("#made-key").input_value()
        assert second.startswith("pbk_") and second != keys["brand"]
        expect(rows).to_have_count(2)
        page.locator("#keys-panel button.danger").first.click()
        expect(panel.locator("tbody")).to_contain_text("revoked")
        expect(panel.locator("button.danger")).to_have_count(1)
        _shoot(browser, page, "setup-operator", out, errors)
        page.click("#keys-panel button:text('Close')")
        expect(keys_button).to_be_focused()
    with httpx.Client(base_url=server, timeout=10) as client:
        old = client.get("/v1/accounts/me", headers={"Authorization": f"Bearer {keys['brand']}"})
        assert old.status_code == 401
        _ok(client, "GET", "/v1/accounts/me", second)
    keys["brand"] = second
    return keys


def _setup_as_brand(
    browser: Browser, server: str, key: str, partner_id: str, out: Path, errors: list[str]
) -> None:
    with _page(browser, errors) as page:
        _sign_in(page, server, key, "#setup")
        page.fill("#p-name", "Main program")
        page.click("#program-form button[type=submit]")
        expect(page.locator("#program-form-status")).to_contain_text("Added Main program")
        for name, category in (("Online sale", "sale"), ("App install", "app_install")):
            page.select_option("#t-program", label="Main program")
            page.fill("#t-name", name)
            page.select_option("#t-category", category)
            page.click("#event-type-form button[type=submit]")
            expect(page.locator("#event-type-form-status")).to_contain_text(f"Added {name}")
        # A contract with the partner, for both event types, from pickers: the partner is
        # found by name in the directory; no id is typed anywhere.
        partners = page.locator("#c-partner option")
        expect(partners).to_have_count(3)  # "choose a partner" and the two partners
        page.click("#contract-form button[type=submit]")  # nothing chosen: said where
        expect(page.locator("#c-partner ~ .field-problem")).to_contain_text("Choose the partner")
        expect(page.locator("#c-partner")).to_have_attribute("aria-invalid", "true")
        page.fill("#c-partner-q", "CASH")
        expect(partners).to_have_count(2)
        expect(page.locator("#c-partner")).to_have_value(partner_id)  # the one match, chosen
        expect(page.locator("#c-partner-found")).to_have_text('1 partner matching "CASH".')
        # The problem under the partner went with the choice; the program's stays.
        expect(page.locator("#c-partner ~ .field-problem")).to_have_count(0)
        expect(page.locator("#c-program ~ .field-problem")).to_have_count(1)
        page.fill("#c-partner-q", "nobody")
        expect(page.locator("#c-partner-found")).to_have_text('0 partners matching "nobody".')
        expect(partners).to_have_count(2)  # the choice is kept while searching on
        expect(partners.first).to_have_text("choose a partner")
        page.fill("#c-partner-q", "cash")
        expect(page.locator("#c-partner-found")).to_have_text('1 partner matching "cash".')
        expect(page.locator("#c-partner option:checked")).to_have_text("Cashback World (cashback)")
        assert page.locator("input[placeholder^='acc']").count() == 0
        page.select_option("#c-program", label="Main program")
        expect(page.locator("#contract-form .field-problem")).to_have_count(0)
        page.check("#c-types >> text=Online sale")
        page.check("#c-types >> text=App install")
        _shoot(browser, page, "setup-contract-picker", out, errors)
        page.click("#contract-form button[type=submit]")
        expect(page.locator("#contract-form-status")).to_contain_text("Added contract")
        expect(page.locator("section[aria-label='Contracts with partners'] tbody")).to_contain_text(
            "Cashback World"
        )
        page.fill("#m-name", "Newsletter")
        page.click("#media-source-form button[type=submit]")
        expect(page.locator("#media-source-form-status")).to_contain_text("Added Newsletter")
        _shoot(browser, page, "setup-brand", out, errors)

        # Postbacks: only the kinds a brand may create, and pickers instead of ids.
        page.click(".tab[data-view=postbacks]")
        expect(page.locator("#f-kind option")).to_have_count(2)
        kinds = page.locator("#f-kind option").evaluate_all("os => os.map(o => o.value)")
        assert kinds == ["partner_integration", "media_source"]
        page.select_option("#f-kind", "partner_integration")
        # The Event Trigger: a partner integration's own field, with the server's choices.
        expect(page.locator("#f-trigger")).to_be_visible()
        triggers = page.locator("#f-trigger option").evaluate_all("os => os.map(o => o.value)")
        assert "always" in triggers, triggers
        page.select_option("#f-trigger", "always")
        page.select_option("#f-partner_id", label="Cashback World")
        page.select_option("#f-event_type_id", label="Online sale")
        # Installs and an in-app event are for mobile app event types only.
        expect(page.locator("#f-include_installs")).to_be_hidden()
        expect(page.locator("#mobile-hint")).to_be_visible()
        page.select_option("#f-event_type_id", label="App install")
        expect(page.locator("#mobile-hint")).to_be_hidden()
        page.check("#f-include_installs")
        page.fill("#f-in_app_event", "purchase")
        page.fill("#f-name", "For Cashback World")
        page.fill("#f-url", f"{server}/inbox/brand-pi?a={{ActionId}}")
        page.click("#save-postback")
        expect(page.locator("#create-status")).to_contain_text("Created pb_")
        page.select_option("#f-kind", "media_source")
        expect(page.locator("#f-partner_id")).to_be_hidden()
        expect(page.locator("#f-trigger")).to_be_hidden()
        page.select_option("#f-media_source_id", label="Newsletter")
        page.select_option("#f-event_type_id", label="Online sale")
        page.fill("#f-name", "Newsletter sales")
        page.fill("#f-url", f"{server}/inbox/brand-ms?a={{ActionId}}")
        page.click("#save-postback")
        expect(page.locator("#create-status")).to_contain_text("Created pb_")
        expect(page.locator("#postbacks tbody tr[data-id]")).to_have_count(2)
        expect(page.locator("#postbacks tr", has_text="For Cashback World")).to_contain_text(
            "trigger: always · with installs · in-app event: purchase"
        )
        _shoot(browser, page, "postbacks-brand", out, errors)


def _partner_writes_a_postback(
    browser: Browser, server: str, key: str, out: Path, errors: list[str]
) -> None:
    with _page(browser, errors) as page:
        _sign_in(page, server, key)
        expect(page.locator("#f-kind option")).to_have_count(4)
        kinds = page.locator("#f-kind option").evaluate_all("os => os.map(o => o.value)")
        assert kinds == ["action_lifecycle", "action_clearing", "action_inquiry", "catalog_change"]
        expect(page.locator("#params-list")).to_contain_text("{Payout}")

        # A test inbox in one click, then a parameter inserted from the list.
        page.click("#use-inbox")
        url = page.locator("#f-url")
        assert page.locator("#f-url").input_value().startswith(f"{server}/inbox/try-")
        page.fill("#f-url", page.locator("#f-url").input_value().split("?")[0] + "?a={ActionId}&p=")
        page.locator("#f-url").press("End")
        page.fill("#params-search", "payout")
        page.click("#params-list button[aria-label='Insert {Payout}']")
        expect(url).to_have_value(f"{url.input_value().split('?')[0]}?a={{ActionId}}&p={{Payout}}")
        preview = page.locator("#preview-output")
        expect(preview).to_contain_text("?a=1000.2000.3000&p=12.50")

        # The sample event is editable: the preview follows the data typed.
        data = json.loads(page.locator("#s-data").input_value())
        data["Payout"] = "99.99"
        page.fill("#s-data", json.dumps(data))
        expect(preview).to_contain_text("&p=99.99")
        page.fill("#s-data", "{oops")
        expect(page.locator("#s-data-problem")).to_contain_text("Not valid JSON")
        page.click("#s-reset")
        expect(preview).to_contain_text("&p=12.50")

        # A mistake shows inline as it is typed, with the suggestion, before any save.
        base = url.input_value()
        page.fill("#f-url", base + "&x={ActionID}")
        problem = page.locator("#f-url ~ .field-problem")
        expect(problem).to_contain_text("did you mean {ActionId}?")
        expect(url).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#preview-status")).to_contain_text("cannot be saved yet")
        # Text that looks like a parameter but is not one: a warning, not an error.
        page.fill("#f-url", base + "&payout={Payout")
        expect(page.locator("#f-url ~ .field-problem")).to_have_count(0)
        expect(page.locator("#f-url ~ .field-warning")).to_contain_text("no closing brace")
        expect(preview.locator(".warning")).to_contain_text("write {Payout}")
        # Both at once, as a new user sees them: the error tied to the field, the warning.
        page.fill("#f-url", base + "&x={ActionID}&payout={Payout")
        expect(problem).to_contain_text("did you mean {ActionId}?")
        expect(page.locator("#f-url ~ .field-warning")).to_contain_text("no closing brace")
        ids = (url.get_attribute("aria-describedby") or "").split()
        assert len(ids) == 2 and all(page.locator(f"#{i}").count() == 1 for i in ids), ids
        _shoot(browser, page, "editor-mistakes", out, errors)
        page.fill("#f-url", base)
        expect(page.locator("#f-url ~ .field-warning")).to_have_count(0)
        assert url.get_attribute("aria-describedby") is None
        page.check("#f-include_locking")
        page.fill("#f-name", "Main postback")
        page.fill("#f-condition", "Payout > 1.0")
        expect(preview.locator(".condition-verdict")).to_contain_text("holds")
        # Functions show beside the parameters they suit (their examples use Payout).
        expect(page.locator("#params-list button[aria-label='Insert |cents']")).to_be_visible()

        # Test before saving: sent to the inbox, the reply beside the request.
        page.click("#test-unsaved")
        result = page.locator("#test-output")
        expect(result.locator(".verdict")).to_contain_text("Delivered in")
        expect(result).to_contain_text("has received 1 request")
        _shoot(browser, page, "editor-partner", out, errors)
        page.click("#save-postback")
        expect(page.locator("#create-status")).to_contain_text("Created pb_")

        # The partner's Setup: its id to give to brands, and its contract.
        page.click(".tab[data-view=setup]")
        expect(page.locator("#my-id")).to_have_text(re.compile(r"^acc_|^\w+_"))
        expect(page.locator("#setup-body thead")).to_contain_text("Brand")
        expect(page.locator("#setup-body tbody")).to_contain_text("Outdoor Co")  # with whom
        expect(page.locator("#setup-body tbody")).to_contain_text("Main program")
        expect(page.locator("#setup-body tbody")).to_contain_text("Online sale, App install")
        _shoot(browser, page, "setup-partner", out, errors)


def _partner_reads_the_log(
    browser: Browser,
    server: str,
    keys: dict[str, str],
    client: httpx.Client,
    out: Path,
    errors: list[str],
) -> None:
    key = keys["partner"]
    [program] = _ok(client, "GET", "/v1/programs", keys["brand"])
    event_type = _ok(client, "GET", "/v1/event-types", keys["brand"])[0]
    [saved] = _ok(client, "GET", "/v1/postbacks", key)
    assert saved["include_locking"] is True and saved["name"] == "Main postback"
    assert saved["condition"] == "Payout > 1.0" and saved["signing_enabled"] is True
    me = _ok(client, "GET", "/v1/accounts/me", key)
    brand_world = {
        "MediaPartnerId": me["id"],
        "CampaignId": program["id"],
        "ActionTrackerId": event_type["id"],
        "ActionId": "A-1",
        "Payout": "12.5",
        "Amount": "149.9",
    }
    for n, action in enumerate(("A-1", "A-2", "A-2")):
        event = {
            "id": f"evt-{n}",
            "type": "action.tracked" if n < 2 else "action.modified",
            "occurred_at": "2026-11-23T10:00:00Z",
            "data": {**brand_world, "ActionId": action},
        }
        _ok(client, "POST", "/v1/events", json=event)
    with _page(browser, errors) as page:
        _sign_in(page, server, key, "#deliveries")
        rows = page.locator("#deliveries tbody tr")
        expect(rows).to_have_count(3)
        delivered = page.locator("#d-counts button", has_text="delivered")
        for _ in range(50):
            if delivered.inner_text().strip().endswith(" 3"):
                break
            page.wait_for_timeout(200)
            page.click("#refresh-deliveries")
        expect(delivered).to_contain_text("3")

        # Health at a glance: the postback's last day, and its Log button filters the log.
        page.click(".tab[data-view=postbacks]")
        health = page.locator("#postbacks tbody tr[data-id] td.health")
        expect(health).to_contain_text("Last: delivered")
        expect(health).to_contain_text("100% of 3 delivered (24 h)")
        page.locator("#postbacks tbody tr[data-id] button.log").click()
        expect(page.locator("#view-deliveries")).to_be_visible()
        expect(page.locator("#d-postback")).to_have_value(saved["id"])
        expect(rows).to_have_count(3)

        # Filter by action id: the list and the counts follow.
        page.fill("#d-action", "A-2")
        page.click("#refresh-deliveries")
        expect(rows).to_have_count(2)
        expect(delivered).to_contain_text("2")
        # Filter by event id, through the API (not only the page loaded).
        page.fill("#d-event", "no-such-event")
        page.click("#refresh-deliveries")
        expect(rows).to_have_count(0)
        page.fill("#d-event", "")
        page.click("#refresh-deliveries")
        expect(rows).to_have_count(2)

        # The detail opens beside the list, with its own URL, and Esc brings focus back.
        rows.first.click()
        panel = page.locator("#delivery")
        expect(panel).to_be_visible()
        expect(panel.locator("dl.facts")).to_contain_text("A-2")
        expect(panel.locator("dl.facts")).to_contain_text("Delivered")
        expect(panel.locator("details.attempt .outcome")).to_contain_text("answered with success")
        # Signed (the default): the attempt shows the Standard Webhooks headers, redacted.
        expect(panel.locator("details.attempt")).to_contain_text("webhook-signature: [redacted]")
        title = panel.locator("time").first.get_attribute("title") or ""
        assert title.endswith("Z (UTC)"), title
        delivery_url = page.url
        assert "#deliveries/" in delivery_url
        _shoot(browser, page, "log-detail", out, errors)
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(page.locator("#deliveries tbody tr:focus")).to_have_count(1)

        # Replay what matches: asked first, then queued.
        page.click("#replay")
        expect(page.locator("#replay-box")).to_contain_text("action A-2")
        page.click("#replay-box button.confirm-replay")
        expect(page.locator("#replay-box .replayed")).to_contain_text("2 deliveries queued")
        # Its progress, read from the server's replay until both are delivered again.
        expect(page.locator("#replay-box .progress")).to_contain_text(
            "Replay done: 2 delivered, 0 failed of 2", timeout=20_000
        )
        expect(page.locator("#replay-box progress")).to_have_attribute("value", "2")
        _shoot(browser, page, "log-replay", out, errors)
        _resend_both_ways(browser, page, client, key, saved, out, errors)

    # The detail's URL opens it straight away in a new page.
    with _page(browser, errors) as page:
        _sign_in(page, server, key, delivery_url[delivery_url.index("#") :])
        expect(page.locator("#delivery")).to_be_visible()
        expect(page.locator("#delivery-id")).to_have_text(delivery_url.split("/")[-1])


def _inbox_queries(client: httpx.Client, postback: dict[str, Any]) -> list[str]:
    name = postback["url"].split("/inbox/")[1].split("?")[0]
    return [r["query"] for r in client.get(f"/inbox/{name}/requests").json()]


def _resend_both_ways(
    browser: Browser,
    page: Page,
    client: httpx.Client,
    key: str,
    saved: dict[str, Any],
    out: Path,
    errors: list[str],
) -> None:
    """The postback changes; a delivered item sent again "as sent" (a new delivery with
    the old request) and "with the current postback" (the same one, rendered anew)."""
    changed = saved["url"] + "&v=2"
    _ok(client, "PATCH", f"/v1/postbacks/{saved['id']}", key, json={"url": changed})
    sent_before = len(_inbox_queries(client, saved))
    rows = page.locator("#deliveries tbody tr")
    rows.first.click()
    panel = page.locator("#delivery")
    original = page.locator("#delivery-id").inner_text()
    page.click("#redeliver")
    choice = page.locator("#redeliver-confirm .confirm-box")
    expect(choice).to_contain_text("delivered already")
    expect(choice.locator("button.with-current")).to_be_visible()
    _shoot(browser, page, "log-resend-choice", out, errors)
    choice.locator("button.as-sent").click()
    expect(page.locator("#delivery-id")).not_to_have_text(original)
    copy = page.locator("#delivery-id").inner_text()
    assert page.url.endswith("#deliveries/" + copy)
    expect(panel.locator("dl.facts")).to_contain_text(f"the request of {original}")
    expect(panel.locator("dl.facts .badge")).to_have_text("delivered", timeout=30_000)
    expect(rows).to_have_count(3)  # the copy is in the log beside the original
    expect(page.locator("#deliveries tbody tr.selected .resent")).to_have_text("resent as sent")
    queries = _inbox_queries(client, saved)
    assert len(queries) == sent_before + 1 and "v=2" not in queries[-1], queries
    _shoot(browser, page, "log-resent", out, errors)
    # A copy keeps its request: it offers "as sent" only, and a way to the original.
    page.click("#redeliver")
    expect(choice.locator("button.with-current")).to_have_count(0)
    choice.locator("button.open-original").click()
    expect(page.locator("#delivery-id")).to_have_text(original)
    page.click("#redeliver")
    choice.locator("button.with-current").click()
    expect(panel.locator(".verdict")).to_contain_text("with the current postback")
    expect(panel.locator("details.attempt")).to_have_count(3, timeout=30_000)
    queries = _inbox_queries(client, saved)
    assert len(queries) == sent_before + 2 and queries[-1].endswith("&v=2"), queries


def test_the_whole_job_on_the_screen(server: str, tmp_path: Path) -> None:
    _need_chromium()
    out = _shots_dir(tmp_path)
    errors: list[str] = []
    with httpx.Client(base_url=server, timeout=10) as client, _browser() as browser:
        keys = _setup_as_operator(browser, server, out, errors)
        partner = _ok(client, "GET", "/v1/accounts/me", keys["partner"])
        other = {"name": "Coupon Corner", "kind": "partner", "partner_type": "coupon"}
        _ok(client, "POST", "/v1/accounts", json=other)  # the directory holds more than one
        _setup_as_brand(browser, server, keys["brand"], partner["id"], out, errors)
        made = _ok(client, "GET", "/v1/postbacks", keys["brand"])
        by_kind = {p["kind"]: p for p in made}
        assert by_kind["partner_integration"]["include_installs"] is True
        assert by_kind["partner_integration"]["in_app_event"] == "purchase"
        assert by_kind["partner_integration"]["partner_id"] == partner["id"]
        assert by_kind["partner_integration"]["trigger"] == "always"
        assert by_kind["media_source"]["media_source_id"].startswith("src")
        _partner_writes_a_postback(browser, server, keys["partner"], out, errors)
        _partner_reads_the_log(browser, server, keys, client, out, errors)
    assert errors == []


def test_only_the_kinds_an_account_may_create_are_offered(server: str) -> None:
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client, _browser() as browser:
        coupon = _ok(
            client,
            "POST",
            "/v1/accounts",
            json={"name": "Coupons", "kind": "partner", "partner_type": "coupon"},
        )
        brand = _ok(client, "POST", "/v1/accounts", json={"name": "Shop", "kind": "brand"})
        errors: list[str] = []
        kinds = "os => os.map(o => o.value)"
        with _page(browser, errors) as page:
            # A coupon partner: no inquiry postbacks (those are for cashback and loyalty).
            _sign_in(page, server, coupon["api_key"], "#postbacks")
            expect(page.locator("#f-kind option")).to_have_count(3)
            assert page.locator("#f-kind option").evaluate_all(kinds) == [
                "action_lifecycle",
                "action_clearing",
                "catalog_change",
            ]
            # The operator: the kinds follow the owner chosen.
            _sign_in(page, server, ADMIN, "#postbacks")
            expect(page.locator("#f-owner_id option")).to_have_count(3)
            page.select_option("#f-owner_id", brand["id"])
            expect(page.locator("#f-kind option")).to_have_count(2)
            page.select_option("#f-owner_id", coupon["id"])
            expect(page.locator("#f-kind option")).to_have_count(3)
            _axe(page, "postbacks (operator)")
    assert errors == []


def test_a_failing_delivery_in_plain_words_with_its_next_attempt(
    server: str, tmp_path: Path
) -> None:
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client, _browser() as browser:
        partner = _ok(
            client,
            "POST",
            "/v1/accounts",
            json={"name": "Refused", "kind": "partner", "partner_type": "cashback"},
        )
        key = partner["api_key"]
        closed = free_port()  # nothing listens there: the connection is refused
        _ok(
            client,
            "POST",
            "/v1/postbacks",
            key,
            json={"kind": "action_lifecycle", "url": f"http://127.0.0.1:{closed}/?a={{ActionId}}"},
        )
        event = {
            "id": "evt-refused",
            "type": "action.tracked",
            "occurred_at": "2026-11-23T10:00:00Z",
            "data": {"MediaPartnerId": partner["id"], "CampaignId": "c", "ActionTrackerId": "t"},
        }
        _ok(
            client, "POST", "/v1/events", json={**event, "data": {**event["data"], "ActionId": "1"}}
        )
        errors: list[str] = []
        with _page(browser, errors) as page:
            _sign_in(page, server, key, "#deliveries")
            row = page.locator("#deliveries tbody tr", has_text="evt-refused")
            page.check("#d-auto")  # the log refreshes itself until the first attempt failed
            expect(row.locator(".badge")).to_have_text("retrying", timeout=20_000)
            expect(row).to_contain_text("could not be reached")
            row.click()
            facts = page.locator("#delivery dl.facts")
            expect(facts).to_contain_text("Next attempt")
            expect(facts).to_contain_text(re.compile(r"\(in \d+ (s|min)\)"))
            expect(facts).to_contain_text("The receiver could not be reached")
            expect(page.locator("#delivery details.attempt .outcome")).to_contain_text(
                "could not be reached"
            )
            page.uncheck("#d-auto")
            _shoot(browser, page, "log-retrying", _shots_dir(tmp_path), errors)
            # Not delivered: Send again needs no confirmation.
            page.click("#redeliver")
            expect(page.locator("#redeliver-confirm .confirm-box")).to_have_count(0)
            expect(page.locator("#delivery .verdict")).to_contain_text("Queued")

            # Health at a glance: a postback whose receiver answers 404 (never retried), and
            # the refused one switched off by its owner.
            gone = {"kind": "action_lifecycle", "name": "Old endpoint", "url": f"{server}/gone"}
            _ok(client, "POST", "/v1/postbacks", key, json=gone)
            [refused] = [p for p in _ok(client, "GET", "/v1/postbacks", key) if not p["name"]]
            _ok(client, "PATCH", f"/v1/postbacks/{refused['id']}", key, json={"enabled": False})
            data = {**event["data"], "ActionId": "2"}
            _ok(client, "POST", "/v1/events", json={**event, "id": "evt-gone", "data": data})
            page.click(".tab[data-view=postbacks]")
            old = page.locator("#postbacks tbody tr", has_text="Old endpoint")
            for _ in range(50):
                if "Last: failed" in old.locator("td.health").inner_text():
                    break
                page.wait_for_timeout(200)
                page.click("#refresh-postbacks")
            expect(old.locator("td.health")).to_contain_text("0% of 1 delivered (24 h)")
            off = page.locator(f"#postbacks tr[data-id='{refused['id']}'] .disabled-why")
            expect(off).to_contain_text("switched off: new events are not sent")
            _shoot(browser, page, "postbacks-health", _shots_dir(tmp_path), errors)
            old.locator("button.failures").click()
            expect(page.locator("#d-status")).to_have_value("failed")
            failed = page.locator("#deliveries tbody tr")
            expect(failed).to_have_count(1)
            expect(failed).to_contain_text("evt-gone")
            expect(failed).to_contain_text("answered with an error status")
    assert errors == []


def test_empty_and_unreachable_states_say_what_to_do(server: str, tmp_path: Path) -> None:
    """Nothing yet: each list says so and what to do next. The server gone: the list says
    it cannot be reached, with Try again, which works once it is back."""
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client, _browser() as browser:
        partner = _ok(
            client,
            "POST",
            "/v1/accounts",
            json={"name": "Newcomer", "kind": "partner", "partner_type": "content"},
        )
        errors: list[str] = []
        with _page(browser, errors) as page:
            _sign_in(page, server, partner["api_key"], "#postbacks")
            expect(page.locator("#postbacks-empty")).to_contain_text("create one below")
            page.click(".tab[data-view=deliveries]")
            expect(page.locator("#deliveries-empty")).to_contain_text("post an event")
            page.click(".tab[data-view=setup]")
            expect(page.locator("#setup-body")).to_contain_text("No contracts yet")
            page.click(".tab[data-view=postbacks]")
            expect(page.locator("#postbacks-empty")).to_be_visible()
            # The server stops answering (the browser's requests to the API fail).
            page.route("**/v1/postbacks", lambda route: route.abort())
            page.click("#refresh-postbacks")
            unreachable = page.locator("#postbacks tbody td.problem")
            expect(unreachable).to_contain_text("cannot be reached")
            expect(unreachable).to_contain_text("Check that it is running, then try again")
            expect(page.locator("#postbacks-empty")).to_be_hidden()  # not known to be empty
            _shoot(browser, page, "unreachable", _shots_dir(tmp_path), errors)
            page.unroute("**/v1/postbacks")
            unreachable.locator("button", has_text="Try again").click()
            expect(page.locator("#postbacks-empty")).to_be_visible()
            expect(page.locator("#postbacks")).to_be_hidden()
            # The log says the same, with its own Try again.
            page.route("**/v1/deliveries?*", lambda route: route.abort())
            page.click(".tab[data-view=deliveries]")
            failed = page.locator("#deliveries tbody td.problem")
            expect(failed).to_contain_text("cannot be reached")
            expect(page.locator("#deliveries-empty")).to_be_hidden()
            page.unroute("**/v1/deliveries?*")
            failed.locator("button", has_text="Try again").click()
            expect(page.locator("#deliveries-empty")).to_be_visible()
    # Chromium logs each request the test cut off; nothing else may be in the console.
    assert [e for e in errors if "ERR_FAILED" not in e] == []


def test_functions_condition_and_signing_on_the_real_server(server: str, tmp_path: Path) -> None:
    """The partner's editor with the merged API: a function from the list changes the live
    preview; the condition's verdict for the sample event, and why not; a bad condition
    under its field; signing off is saved; the owner sees, copies and rotates the secret."""
    _need_chromium()
    with httpx.Client(base_url=server, timeout=10) as client, _browser() as browser:
        partner = _ok(
            client,
            "POST",
            "/v1/accounts",
            json={"name": "Signer", "kind": "partner", "partner_type": "cashback"},
        )
        key = partner["api_key"]
        errors: list[str] = []
        with _page(browser, errors) as page:
            page.context.grant_permissions(["clipboard-read", "clipboard-write"])
            _sign_in(page, server, key, "#postbacks")
            url = page.locator("#f-url")
            preview = page.locator("#preview-output")
            page.fill("#f-url", f"{server}/inbox/signed?p=")
            page.locator("#f-url").press("End")
            # A function from the list, inserted at the cursor: the preview shows its result.
            page.fill("#params-search", "cents")
            fn = page.locator("#params-list li").filter(
                has=page.locator("button[aria-label='Insert |cents']")
            )
            expect(fn).to_contain_text("money → integer")
            fn.locator("button").click()
            expect(url).to_have_value(f"{server}/inbox/signed?p={{Payout|cents}}")
            expect(preview).to_contain_text("?p=1250")
            page.fill("#params-search", "upper")
            page.click("#params-list button[aria-label='Insert |upper']")
            expect(url).to_have_value(f"{server}/inbox/signed?p={{Payout|cents}}{{Status|upper}}")
            expect(preview).to_contain_text("?p=1250PENDING")

            # The condition: its verdict for the sample event, live, and why it fails.
            verdict = preview.locator(".condition-verdict")
            page.fill("#f-condition", "Payout > 100.0")
            expect(verdict).to_contain_text("does not hold")
            expect(verdict).to_contain_text("false for this data")
            page.fill("#f-condition", 'Payout > 10.0 && Status == "PENDING"')
            expect(verdict).to_contain_text("Condition holds for this event")
            page.fill("#f-condition", "Payout >")
            expect(page.locator("#f-condition ~ .field-problem")).to_be_visible()
            expect(page.locator("#f-condition")).to_have_attribute("aria-invalid", "true")
            expect(verdict).to_have_count(0)
            page.fill("#f-condition", "Payout > 10.0")
            expect(verdict).to_contain_text("holds")

            # Signing off: saved so.
            page.uncheck("#f-signing_enabled")
            page.fill("#f-name", "Unsigned")
            page.click("#save-postback")
            expect(page.locator("#create-status")).to_contain_text("Created pb_")
            # Signing on (the default, back after a save): the saved postback's editor shows
            # its secret.
            expect(page.locator("#f-signing_enabled")).to_be_checked()
            page.fill("#f-url", f"{server}/inbox/signed?a={{ActionId}}")
            page.fill("#f-name", "Signed")
            page.click("#save-postback")
            expect(page.locator("#create-status")).to_contain_text("Created pb_")
            saved = {p["name"]: p for p in _ok(client, "GET", "/v1/postbacks", key)}
            assert saved["Unsigned"]["signing_enabled"] is False
            assert saved["Unsigned"]["condition"] == "Payout > 10.0"
            assert saved["Signed"]["signing_enabled"] is True
            assert saved["Signed"]["condition"] is None

            unsigned = page.locator(f"#postbacks tr[data-id='{saved['Unsigned']['id']}']")
            expect(unsigned.locator(".condition")).to_have_text("only if Payout > 10.0")
            expect(unsigned.locator(".unsigned")).to_have_text("not signed")
            unsigned.locator("button.edit").click()
            expect(page.locator("#secret-field")).to_be_hidden()
            page.click("#cancel-edit")
            page.locator(f"#postbacks tr[data-id='{saved['Signed']['id']}'] button.edit").click()
            expect(page.locator("#secret-field")).to_be_visible()
            expect(page.locator("#secret-value")).to_be_hidden()  # not shown until asked
            page.click("#show-secret")
            path = f"/v1/postbacks/{saved['Signed']['id']}/secret"
            first = _ok(client, "GET", path, key)["secret"]
            assert first.startswith("whsec_")
            expect(page.locator("#secret-value")).to_have_value(first)
            page.click("#copy-secret")
            expect(page.locator("#secret-status")).to_have_text("Copied.")
            assert page.evaluate("navigator.clipboard.readText()") == first
            _axe(page, "editor with the secret")
            page.click("#rotate-secret")
            expect(page.locator("#confirm-rotate")).to_be_focused()
            page.click("#confirm-rotate")
            expect(page.locator("#secret-value")).not_to_have_value(first)
            expect(page.locator("#secret-status")).to_contain_text("previous secret also signs")
            second = _ok(client, "GET", path, key)["secret"]
            assert second != first
            expect(page.locator("#secret-value")).to_have_value(second)
            expect(page.locator("#rotate-secret")).to_be_focused()
            _shoot(browser, page, "editor-secret", _shots_dir(tmp_path), errors)
    assert errors == []
