"""Preview and test of an unsaved postback, the screen's info and its picker lists."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

from tests.apiclient import LIFECYCLE, Api, running_api
from tests.e2e.receiver import receiver


async def test_preview_renders_a_sample_and_stores_nothing(api: Api) -> None:
    w = await api.world()
    key = w.partner["api_key"]
    body = {"postback": {**LIFECYCLE, "url": LIFECYCLE["url"] + "&p={Payout}"}}
    shown = await api.ok("POST", "/v1/postbacks/preview", key, json=body)
    assert shown["problems"] == [] and shown["warnings"] == []
    assert shown["request"]["url"] == "https://partner.example/pb?a=1000.2000.3000&p=12.50"
    assert shown["event"]["type"] == "action.tracked"
    assert shown["event"]["data"]["ActionId"] == "1000.2000.3000"
    assert await api.ok("GET", "/v1/postbacks", key) == []


async def test_preview_renders_the_edited_event_of_the_chosen_type(api: Api) -> None:
    w = await api.world()
    body = {
        "postback": {**LIFECYCLE, "url": LIFECYCLE["url"] + "&s={Status}"},
        "event": {"type": "action.reversed", "data": {"ActionId": "X-9"}},
    }
    shown = await api.ok("POST", "/v1/postbacks/preview", w.partner["api_key"], json=body)
    assert shown["request"]["url"] == "https://partner.example/pb?a=X-9&s=REVERSED"
    assert shown["event"] == {"type": "action.reversed", "data": {"ActionId": "X-9"}}


async def test_preview_warns_of_text_that_looks_like_a_parameter(api: Api) -> None:
    w = await api.world()
    body = {"postback": {**LIFECYCLE, "url": LIFECYCLE["url"] + "&payout={Payout"}}
    shown = await api.ok("POST", "/v1/postbacks/preview", w.partner["api_key"], json=body)
    assert shown["problems"] == []
    assert shown["request"]["url"].endswith("&payout={Payout")
    [warning] = shown["warnings"]
    assert warning["field"] == "url" and warning["code"] == "lookalike"
    assert warning["position"] == body["postback"]["url"].index("{Payout")
    assert "no closing brace" in warning["message"] and "{Payout}" in warning["message"]


async def test_preview_lists_the_problems_a_save_would_report(api: Api) -> None:
    w = await api.world()
    brand_key = w.brand["api_key"]
    # A partner kind for a brand, and a misspelt parameter: both listed, nothing rendered.
    body = {"postback": {**LIFECYCLE, "url": "https://p.example/?a={ActionID}"}}
    shown = await api.ok("POST", "/v1/postbacks/preview", brand_key, json=body)
    fields = {(p["field"], p["code"]) for p in shown["problems"]}
    assert ("kind", "not_allowed") in fields
    assert ("url", "unknown_parameter") in fields
    assert shown["request"] is None
    # The same mistakes make Test answer 422 without sending anything.
    r = await api.call("POST", "/v1/postbacks/test", brand_key, json=body)
    assert r.status_code == 422
    assert {(p["field"], p["code"]) for p in r.json()["detail"]} == fields
    # An event type of another catalogue is named as the problem.
    wrong = {"postback": LIFECYCLE, "event": {"type": "inquiry.created"}}
    shown = await api.ok("POST", "/v1/postbacks/preview", w.partner["api_key"], json=wrong)
    assert [p["field"] for p in shown["problems"]] == ["event.type"]
    # Bad shapes are the usual 422 naming the field.
    r = await api.call("POST", "/v1/postbacks/preview", brand_key, json={"postback": {"url": "x"}})
    assert r.status_code == 422
    assert "kind" in r.text


async def test_configuration_test_sends_once_and_saves_nothing(tmp_path: Any) -> None:
    async with (
        receiver() as rx,
        running_api(
            f"sqlite:///{tmp_path}/t.db", allowed_networks=(ip_network("127.0.0.1/32"),)
        ) as api,
    ):
        w = await api.world()
        key = w.partner["api_key"]
        url = rx.url("/pb") + "?a={ActionId}&p={Payout"
        body = {"postback": {"kind": "action_lifecycle", "url": url}}
        result = await api.ok("POST", "/v1/postbacks/test", key, json=body)
        assert result["delivered"] is True
        assert result["reply"]["status"] == 200
        assert [w_["code"] for w_ in result["warnings"]] == ["lookalike"]
        assert len(rx.on("/pb")) == 1
        assert await api.ok("GET", "/v1/postbacks", key) == []


async def test_info_says_whether_the_inbox_is_on(tmp_path: Any) -> None:
    async with running_api(f"sqlite:///{tmp_path}/a.db") as api:
        assert (await api.client.get("/v1/info")).json() == {"inbox_enabled": False}
    async with running_api(f"sqlite:///{tmp_path}/b.db", inbox=True) as api:
        assert (await api.client.get("/v1/info")).json() == {"inbox_enabled": True}


async def test_pickers_list_only_what_the_account_sees(api: Api) -> None:
    w = await api.world()
    other = await api.world()
    brand, partner = w.brand["api_key"], w.partner["api_key"]
    source = await api.ok("POST", "/v1/media-sources", brand, json={"name": "Newsletter"})
    await api.ok("POST", "/v1/media-sources", other.brand["api_key"], json={"name": "Theirs"})
    assert await api.ok("GET", "/v1/media-sources", brand) == [source]
    assert await api.ok("GET", "/v1/media-sources", partner) == []
    for who in (brand, partner):
        seen = await api.ok("GET", "/v1/event-types", who)
        assert [t["id"] for t in seen] == [w.event_type["id"]]
    assert len(await api.ok("GET", "/v1/event-types")) == 2
    [contract] = await api.ok("GET", "/v1/contracts", partner)
    assert contract["partner_name"] == w.partner["name"]
    assert contract["program_name"] == w.program["name"]
    assert contract["brand_name"] == w.brand["name"]
