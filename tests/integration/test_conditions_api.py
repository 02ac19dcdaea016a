"""Postback conditions through the API, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.apiclient import Api
from tests.integration.test_api import LIFECYCLE

TRUE = 'Payout >= 10.0 && Currency == "USD"'
FALSE = 'Status == "APPROVED"'
ERRS = "Money2 > 1.0"  # the event does not carry Money2: unbound


async def condition_errors(api: Api, postback_id: str) -> float:
    """The counter for one postback, read from /metrics with prometheus_client's parser."""
    text = (await api.call("GET", "/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "postback_condition_errors":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels == {"postback_id": postback_id}:
                    return float(sample.value)
    return 0.0


async def postback(api: Api, key: str, condition: str | None, tag: str) -> dict[str, Any]:
    body = {**LIFECYCLE, "url": f"https://partner.example/{tag}?a={{ActionId}}"}
    return await api.ok("POST", "/v1/postbacks", key, json={**body, "condition": condition})  # type: ignore[no-any-return]


async def test_true_false_and_erroring_conditions(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    made = {tag: await postback(api, key, c, tag) for tag, c in
            [("true", TRUE), ("false", FALSE), ("error", ERRS), ("none", None)]}  # fmt: skip
    assert made["true"]["condition"] == TRUE and made["none"]["condition"] is None

    answer = await api.call("POST", "/v1/events", json=world.action("c-1", Currency="USD"))
    assert answer.status_code == 202, answer.text  # the erroring condition rejects nothing
    assert answer.json()["deliveries"] == 2
    page = await api.ok("GET", "/v1/deliveries", key)
    got = sorted(d["postback_id"] for d in page["items"])
    assert got == sorted([made["true"]["id"], made["none"]["id"]])

    # An event for which the condition is false, and one where Money2 is bound.
    await api.ok("POST", "/v1/events", json=world.action("c-2", Payout="2", Status="APPROVED"))
    await api.ok("POST", "/v1/events", json=world.action("c-3", Money2="5", Currency="USD"))
    by_postback: dict[str, int] = {}
    for d in (await api.ok("GET", "/v1/deliveries", key))["items"]:
        by_postback[d["postback_id"]] = by_postback.get(d["postback_id"], 0) + 1
    assert by_postback == {
        made["true"]["id"]: 2,  # c-1, c-3 (c-2 pays 2.00)
        made["false"]["id"]: 1,  # c-2
        made["error"]["id"]: 1,  # c-3
        made["none"]["id"]: 3,
    }
    assert await condition_errors(api, made["error"]["id"]) == 2.0  # c-1 and c-2
    assert await condition_errors(api, made["false"]["id"]) == 0.0


async def test_a_condition_that_does_not_compile_is_a_422_with_position(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    r = await api.call("POST", "/v1/postbacks", key, json={**LIFECYCLE, "condition": "Status =="})
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["field"] == "condition" and problem["code"] == "invalid_condition"
    assert problem["position"] == 9 and "Syntax error" in problem["message"]

    made = await postback(api, key, None, "p")
    path = f"/v1/postbacks/{made['id']}"
    r = await api.call("PATCH", path, key, json={"condition": "items.exists(i,"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "condition"
    patched = await api.ok("PATCH", path, key, json={"condition": FALSE})
    assert patched["condition"] == FALSE
    assert (await api.ok("GET", path, key))["condition"] == FALSE
    cleared = await api.ok("PATCH", path, key, json={"condition": None})
    assert cleared["condition"] is None
    answer = await api.ok("POST", "/v1/events", json=world.action("c-4"))
    assert answer["deliveries"] == 1  # no condition any more


async def test_preview_and_test_show_whether_the_condition_holds(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    plain = await postback(api, key, None, "plain")
    false = await postback(api, key, FALSE, "false")
    errs = await postback(api, key, ERRS, "errs")
    true = await postback(api, key, "has(event.PromoCode)", "true")

    async def shown(p: dict[str, Any], body: dict[str, Any] | None = None) -> Any:
        out = await api.ok("POST", f"/v1/postbacks/{p['id']}/preview", key, json=body)
        return out["condition"]

    assert await shown(plain) is None
    assert await shown(false) == {"holds": False, "error": None}  # the sample is PENDING
    given = {"event": world.action("pv", Status="APPROVED")}
    assert await shown(false, given) == {"holds": True, "error": None}
    errored = await shown(errs, given)
    assert errored["holds"] is False and "Money2" in errored["error"]
    assert await shown(true) == {"holds": True, "error": None}  # the sample has a PromoCode
    assert (await shown(true, given))["holds"] is False

    await api.ok("POST", "/v1/events", json=world.action("stored", Money2="7.5"))
    assert await shown(errs, {"event_id": "stored"}) == {"holds": True, "error": None}

    # test sends anyway (to localhost, refused at send as loopback) and says so
    body = {**LIFECYCLE, "url": "http://localhost:9/x?a={ActionId}", "condition": FALSE}
    local = await api.ok("POST", "/v1/postbacks", key, json=body)
    r = await api.ok("POST", f"/v1/postbacks/{local['id']}/test", key)
    assert r["reason"] == "blocked_address"
    assert r["condition"] == {"holds": False, "error": None}
