"""Every route of the API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
from ipaddress import ip_network
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.apiclient import Api, running_api
from tests.e2e.receiver import receiver

LIFECYCLE = {
    "kind": "action_lifecycle",
    "url": "https://partner.example/pb?action={ActionId}&payout={Payout}&status={Status}",
}


async def test_health_and_openapi(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    spec = (await api.client.get("/openapi.json")).json()
    for path in ("/v1/postbacks", "/v1/events", "/v1/deliveries", "/v1/deliveries/replay"):
        assert path in spec["paths"]
    metrics = await api.client.get("/metrics")
    assert metrics.status_code == 200
    names = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert {"postback_attempts", "postback_send_seconds", "postback_requests_in_flight"} <= names


async def test_calls_need_a_known_key(api: Api) -> None:
    assert (await api.client.get("/v1/postbacks")).status_code == 401
    assert (await api.call("GET", "/v1/postbacks", key="pbk_nope")).status_code == 401


async def test_only_the_operator_creates_accounts_and_posts_events(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    r = await api.call("POST", "/v1/accounts", key, json={"name": "x", "kind": "brand"})
    assert r.status_code == 403
    r = await api.call("POST", "/v1/events", key, json=world.action("e1"))
    assert r.status_code == 403


async def test_postback_create_read_update_delete(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    created = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    assert created["owner_id"] == world.partner["id"]
    assert created["method"] == "GET"
    got = await api.ok("GET", f"/v1/postbacks/{created['id']}", key)
    assert got["url"] == LIFECYCLE["url"]
    listed = await api.ok("GET", "/v1/postbacks", key)
    assert [p["id"] for p in listed] == [created["id"]]
    patched = await api.ok(
        "PATCH", f"/v1/postbacks/{created['id']}", key, json={"min_delay_seconds": 30}
    )
    assert patched["min_delay_seconds"] == 30
    assert patched["url"] == LIFECYCLE["url"]
    r = await api.call("DELETE", f"/v1/postbacks/{created['id']}", key)
    assert r.status_code == 204
    r = await api.call("GET", f"/v1/postbacks/{created['id']}", key)
    assert r.status_code == 404


async def test_template_errors_are_a_422_with_position(api: Api) -> None:
    world = await api.world()
    body = {**LIFECYCLE, "url": "https://p.example/?c={CampaignID}"}
    r = await api.call("POST", "/v1/postbacks", world.partner["api_key"], json=body)
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["field"] == "url"
    assert problem["code"] == "unknown_parameter"
    assert problem["position"] == 21
    assert "CampaignId" in problem["message"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"url": "ftp://p.example/x"}, "url", "invalid_url"),
        ({"url": "/relative/{ActionId}"}, "url", "invalid_url"),
        ({"method": "POST", "body": "a={ActionId}"}, "body_format", "required"),
        ({"headers": {"Bad Header": "x"}}, "headers.Bad Header", "invalid_header"),
        ({"headers": {"Host": "x"}}, "headers.Host", "reserved_header"),
        ({"min_delay_seconds": -1}, "min_delay_seconds", "out_of_range"),
        ({"max_requests_per_second": 0}, "max_requests_per_second", "out_of_range"),
        (
            {"method": "POST", "body_format": "json", "body": '{"x": "{i.sku}"}'},
            "body",
            "unknown_loop_variable",
        ),
        ({"headers": {"X-Token": "{Nope}"}}, "headers.X-Token", "unknown_parameter"),
        ({"url": "https://p.example/?c={Payout|centz}"}, "url", "unknown_function"),
        ({"url": "https://p.example/?c={Payout|number(9)}"}, "url", "bad_arguments"),
        ({"url": "https://p.example/?c={Status|cents}"}, "url", "type_mismatch"),
        ({"headers": {"X-Sig": "{Status|upper }"}}, "headers.X-Sig", "malformed_function"),
    ],
)
async def test_postback_rules(api: Api, change: dict[str, Any], field: str, code: str) -> None:
    world = await api.world()
    r = await api.call(
        "POST", "/v1/postbacks", world.partner["api_key"], json={**LIFECYCLE, **change}
    )
    assert r.status_code == 422, r.text
    assert {(p["field"], p["code"]) for p in r.json()["detail"]} >= {(field, code)}


async def test_rules_hold_on_update_too(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    created = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    r = await api.call("PATCH", f"/v1/postbacks/{created['id']}", key, json={"url": "x{Nope}"})
    assert r.status_code == 422
    assert (await api.ok("GET", f"/v1/postbacks/{created['id']}", key))["url"] == LIFECYCLE["url"]


async def test_inquiry_postbacks_only_for_cashback_and_loyalty(api: Api) -> None:
    inquiry = {"kind": "action_inquiry", "url": "https://p.example/?i={InquiryId}"}
    coupon = await api.account("partner", "coupon")
    r = await api.call("POST", "/v1/postbacks", coupon["api_key"], json=inquiry)
    assert r.status_code == 422
    loyalty = await api.account("partner", "loyalty")
    await api.ok("POST", "/v1/postbacks", loyalty["api_key"], json=inquiry)


async def test_partner_integration_needs_the_brand_and_the_contract(api: Api) -> None:
    world = await api.world()
    body = {
        "kind": "partner_integration",
        "url": "https://p.example/?a={ActionId}",
        "partner_id": world.partner["id"],
        "event_type_id": world.event_type["id"],
    }
    r = await api.call("POST", "/v1/postbacks", world.partner["api_key"], json=body)
    assert r.status_code == 422  # a partner cannot
    await api.ok("POST", "/v1/postbacks", world.brand["api_key"], json=body)
    other = await api.ok(
        "POST",
        f"/v1/programs/{world.program['id']}/event-types",
        world.brand["api_key"],
        json={"name": "Lead", "category": "lead"},
    )
    r = await api.call(
        "POST", "/v1/postbacks", world.brand["api_key"], json={**body, "event_type_id": other["id"]}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["code"] == "not_in_contract"


async def test_media_source_postback(api: Api) -> None:
    world = await api.world()
    key = world.brand["api_key"]
    source = await api.ok("POST", "/v1/media-sources", key, json={"name": "Ad network"})
    body = {
        "kind": "media_source",
        "url": "https://net.example/?a={ActionId}",
        "media_source_id": source["id"],
        "event_type_id": world.event_type["id"],
    }
    await api.ok("POST", "/v1/postbacks", key, json=body)
    event = world.action("ms-1", MediaSourceId=source["id"])
    result = await api.ok("POST", "/v1/events", json=event)
    assert result["deliveries"] == 1


async def test_ingest_fans_out_renders_and_is_idempotent(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    await api.ok(
        "POST",
        "/v1/postbacks",
        key,
        json={
            "kind": "action_lifecycle",
            "url": "https://partner.example/json",
            "method": "POST",
            "body_format": "json",
            "body": '{"id": "{ActionId}", "note": "{Note}"}',
            "headers": {"X-Partner": "{MediaPartnerId}"},
        },
    )
    first = await api.call("POST", "/v1/events", json=world.action("e-1", Note='say "hi"'))
    assert first.status_code == 202
    assert first.json()["deliveries"] == 2
    again = await api.call("POST", "/v1/events", json=world.action("e-1"))
    assert again.status_code == 202
    [repeat] = again.json()["events"]
    assert again.json()["deliveries"] == 0
    assert repeat["duplicate"] is True and repeat["deliveries"] == 0
    assert repeat["original"]["id"] == "e-1" and repeat["original"]["deliveries"] == 2
    page = await api.ok("GET", "/v1/deliveries", key)
    assert len(page["items"]) == 2
    by_url = {d["request"]["url"]: d for d in page["items"]}
    get = by_url["https://partner.example/pb?action=A-1&payout=12.50&status=PENDING"]
    assert get["postback_id"] == postback["id"]
    assert get["status"] == "scheduled"
    post = by_url["https://partner.example/json"]
    assert post["request"]["body"] == '{"id": "A-1", "note": "say \\"hi\\""}'
    headers = dict(post["request"]["headers"])
    assert headers["X-Partner"] == world.partner["id"]
    assert headers["Content-Type"].startswith("application/json")


async def test_a_batch_of_events(api: Api) -> None:
    world = await api.world()
    await api.ok("POST", "/v1/postbacks", world.partner["api_key"], json=LIFECYCLE)
    batch = [world.action(f"b-{i}", ActionId=f"A-{i}") for i in range(20)]
    result = await api.ok("POST", "/v1/events", json=batch)
    assert result["deliveries"] == 20
    assert not any(e["duplicate"] for e in result["events"])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"ActionId": None}, "[0].data.ActionId"),
        ({"Payout": "twelve"}, "[0].data.Payout"),
        ({"EventDate": "yesterday"}, "[0].data.EventDate"),
        ({"items": "nope"}, "[0].data.items"),
    ],
)
async def test_bad_events_are_a_422_naming_the_field(
    api: Api, data: dict[str, Any], field: str
) -> None:
    world = await api.world()
    r = await api.call("POST", "/v1/events", json=[world.action("bad", **data)])
    assert r.status_code == 422, r.text
    assert field in [p["field"] for p in r.json()["detail"]]
    page = await api.ok("GET", "/v1/deliveries")
    assert page["items"] == []


async def test_unknown_event_type_and_missing_time_are_422(api: Api) -> None:
    r = await api.call(
        "POST",
        "/v1/events",
        json={"id": "x", "type": "nope", "occurred_at": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 422
    r = await api.call("POST", "/v1/events", json={"id": "x", "type": "action.tracked"})
    assert r.status_code == 422
    assert [p["field"] for p in r.json()["detail"]] == ["occurred_at"]
    r = await api.call("POST", "/v1/events", json=[{"id": "x", "type": "action.tracked"}])
    assert [p["field"] for p in r.json()["detail"]] == ["[0].occurred_at"]
    r = await api.call("POST", "/v1/events", json=[])
    assert r.status_code == 422


async def test_bodies_over_the_limit_are_413(api: Api) -> None:
    world = await api.world()
    big = world.action("big", Note="x" * 70_000)
    r = await api.call("POST", "/v1/events", json=big)
    assert r.status_code == 413


async def test_delivery_filters_detail_and_pagination(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    await api.ok(
        "POST", "/v1/events", json=[world.action(f"p-{i}", ActionId=f"A-{i}") for i in range(5)]
    )
    first = await api.ok("GET", "/v1/deliveries", key, params={"limit": 2})
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = await api.ok(
        "GET", "/v1/deliveries", key, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    third = await api.ok(
        "GET", "/v1/deliveries", key, params={"limit": 2, "cursor": second["next_cursor"]}
    )
    ids = [d["id"] for page in (first, second, third) for d in page["items"]]
    assert len(set(ids)) == 5
    by_action = await api.ok("GET", "/v1/deliveries", key, params={"action_id": "A-3"})
    assert [d["action_id"] for d in by_action["items"]] == ["A-3"]
    by_status = await api.ok("GET", "/v1/deliveries", key, params={"status": "delivered"})
    assert by_status["items"] == []
    by_postback = await api.ok("GET", "/v1/deliveries", key, params={"postback_id": postback["id"]})
    assert len(by_postback["items"]) == 5
    detail = await api.ok("GET", f"/v1/deliveries/{ids[0]}", key)
    assert detail["attempts"] == []


async def test_preview_for_a_sample_and_a_given_event(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    sample = await api.ok("POST", f"/v1/postbacks/{postback['id']}/preview", key)
    assert sample["request"]["url"].startswith("https://partner.example/pb?action=")
    given = await api.ok(
        "POST",
        f"/v1/postbacks/{postback['id']}/preview",
        key,
        json={"event": world.action("pv", ActionId="Z 9", Payout=3)},
    )
    assert (
        given["request"]["url"]
        == "https://partner.example/pb?action=Z%209&payout=3.00&status=PENDING"
    )


async def test_functions_render_in_a_saved_postback(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    url = (
        "https://partner.example/pb?a={ActionId|lower}&c={Payout|cents}"
        '&s={Status|map("PENDING", "0", "1")}&t={EventDate|unix}'
    )
    postback = await api.ok("POST", "/v1/postbacks", key, json={**LIFECYCLE, "url": url})
    event = world.action("fn", ActionId="ZX 9", Payout="12.345", EventDate="1970-01-02T00:00:00Z")
    given = await api.ok(
        "POST", f"/v1/postbacks/{postback['id']}/preview", key, json={"event": event}
    )
    assert given["request"]["url"] == "https://partner.example/pb?a=zx%209&c=1235&s=0&t=86400"


async def test_redeliver_and_replay(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    await api.ok("POST", "/v1/events", json=world.action("r-1"))
    [delivery] = (await api.ok("GET", "/v1/deliveries", key))["items"]
    again = await api.ok("POST", f"/v1/deliveries/{delivery['id']}/redeliver", key)
    assert again["status"] == "scheduled"
    replayed = await api.ok("POST", "/v1/deliveries/replay", key, json={"status": "failed"})
    assert replayed["queued"] == 0 and replayed["replay_id"].startswith("rpl_")


async def test_parameter_catalogues(api: Api) -> None:
    for kind, name in (
        ("action", "ActionId"),
        ("action_inquiry", "InquiryId"),
        ("catalog_change", "CatalogItemId"),
    ):
        catalogue = await api.ok("GET", f"/v1/parameters/{kind}")
        assert name in [p["name"] for p in catalogue["parameters"]]
        functions = {f["name"]: f for f in catalogue["functions"]}
        assert {"date", "cents", "sha256", "map", "raw"} <= set(functions)
    assert functions["cents"] == {
        "name": "cents",
        "usage": "cents",
        "takes": "money",
        "gives": "integer",
        "description": "The amount times 100, rounded half away from zero",
        "example": "{CurrentPrice|cents}",
        "example_result": "8990",
    }
    assert (await api.call("GET", "/v1/parameters/nope")).status_code == 404


async def test_inbox_is_off_unless_asked_for(api: Api) -> None:
    assert (await api.client.post("/inbox/abc", content=b"x")).status_code == 404
    assert (await api.client.get("/inbox/abc/requests")).status_code == 404


async def test_inbox_records_requests_and_redacts_secrets(tmp_path: Any) -> None:
    async with running_api(f"sqlite:///{tmp_path}/inbox.db", inbox=True) as api:
        r = await api.client.post(
            "/inbox/abc?x=1", content=b"hello", headers={"Authorization": "Bearer s3cret"}
        )
        assert r.status_code == 200
        [got] = (await api.client.get("/inbox/abc/requests")).json()
        assert (got["method"], got["query"], got["body"]) == ("POST", "x=1", "hello")
        assert "s3cret" not in str(got["headers"])


async def test_patch_refuses_null_where_a_value_is_needed(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    created = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    for field in ("url", "method", "min_delay_seconds", "enabled", "name"):
        r = await api.call("PATCH", f"/v1/postbacks/{created['id']}", key, json={field: None})
        assert r.status_code == 422, (field, r.text)
        assert r.json()["detail"][0]["field"] == field
    r = await api.call(
        "PATCH", f"/v1/postbacks/{created['id']}", key, json={"max_requests_per_second": None}
    )
    assert r.status_code == 200


async def test_damaged_cursors_and_impossible_dates_are_422(api: Api) -> None:
    world = await api.world()
    huge = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|99999999999999999999").decode()
    for cursor in (huge, "nope", base64.urlsafe_b64encode(b"2026-01-01T00:00:00|1").decode()):
        r = await api.call("GET", "/v1/deliveries", params={"cursor": cursor})
        assert r.status_code == 422, (cursor, r.text)
    event = {**world.action("far"), "occurred_at": "9999-12-31T23:00:00-05:00"}
    r = await api.call("POST", "/v1/events", json=event)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "occurred_at"
    r = await api.call("GET", "/v1/deliveries", params={"since": "0001-01-01T00:00:00+01:00"})
    assert r.status_code == 422


async def test_deliveries_of_a_deleted_postback_are_not_sent_again(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    await api.ok("POST", "/v1/events", json=world.action("del-1"))
    [delivery] = (await api.ok("GET", "/v1/deliveries", key))["items"]
    await api.ok("DELETE", f"/v1/postbacks/{postback['id']}", key)
    r = await api.call("POST", f"/v1/deliveries/{delivery['id']}/redeliver", key)
    assert r.status_code == 409
    replayed = await api.ok("POST", "/v1/deliveries/replay", key, json={"all": True})
    assert replayed["queued"] == 0


async def test_the_delivery_log_redacts_secret_headers(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    body = {**LIFECYCLE, "headers": {"Authorization": "Bearer s3cret", "X-Plain": "{ActionId}"}}
    await api.ok("POST", "/v1/postbacks", key, json=body)
    await api.ok("POST", "/v1/events", json=world.action("sec-1"))
    [delivery] = (await api.ok("GET", "/v1/deliveries", key))["items"]
    headers = dict(delivery["request"]["headers"])
    assert "s3cret" not in headers["Authorization"]
    assert headers["X-Plain"] == "A-1"


async def test_send_now_shows_request_and_reply(tmp_path: Any) -> None:
    async with (
        receiver() as rec,
        running_api(
            f"sqlite:///{tmp_path}/t.db", allowed_networks=(ip_network("127.0.0.0/8"),)
        ) as api,
    ):
        rec.script("/hook", (200, "OK ack", {}))
        world = await api.world()
        key = world.partner["api_key"]
        body = {**LIFECYCLE, "url": rec.url("/hook?a={ActionId}"), "min_delay_seconds": 3600}
        postback = await api.ok("POST", "/v1/postbacks", key, json=body)
        result = await api.ok(
            "POST",
            f"/v1/postbacks/{postback['id']}/test",
            key,
            json={"event": world.action("t-1", ActionId="T9")},
        )
        assert result["delivered"] is True
        assert result["reply"]["status"] == 200 and result["reply"]["body"] == "OK ack"
        assert result["request"]["url"] == rec.url("/hook?a=T9")
        [seen] = rec.on("/hook")
        assert seen.path_qs == "/hook?a=T9"


async def test_send_now_to_an_internal_address_is_refused(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    body = {**LIFECYCLE, "url": "http://localhost:9/x?a={ActionId}"}  # a name: saved
    postback = await api.ok("POST", "/v1/postbacks", key, json=body)
    result = await api.ok("POST", f"/v1/postbacks/{postback['id']}/test", key)
    assert result["delivered"] is False
    assert result["reason"] == "blocked_address"
    assert result["reply"] is None


async def test_preview_for_a_stored_event_even_when_disabled(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    await api.ok("POST", "/v1/events", json=world.action("st-1", ActionId="S-1"))
    await api.ok("PATCH", f"/v1/postbacks/{postback['id']}", key, json={"enabled": False})
    shown = await api.ok(
        "POST", f"/v1/postbacks/{postback['id']}/preview", key, json={"event_id": "st-1"}
    )
    assert "action=S-1" in shown["request"]["url"]
    other = await api.account("partner", "cashback")
    mine = await api.ok("POST", "/v1/postbacks", other["api_key"], json=LIFECYCLE)
    r = await api.call(
        "POST", f"/v1/postbacks/{mine['id']}/preview", other["api_key"], json={"event_id": "st-1"}
    )
    assert r.status_code == 404


# -- allowed networks per account, and literal internal addresses at save ----------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/pb?a={ActionId}",
        "http://2130706433/pb",
        "http://0x7f.1/pb",
        "http://good.example@10.1.2.3/pb",
        "http://127.0.0.1#@good.example/",
        "http://[::1]:8080/pb",
        "http://[fe80::1%25lo]/pb",
        "http://169.254.169.254/latest/meta-data",
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/pb",
    ],
)
async def test_a_literal_internal_address_is_a_422_on_url_when_saved(api: Api, url: str) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    r = await api.call("POST", "/v1/postbacks", key, json={**LIFECYCLE, "url": url})
    assert r.status_code == 422, r.text
    assert [(p["field"], p["code"]) for p in r.json()["detail"]] == [("url", "blocked_address")]
    assert await api.ok("GET", "/v1/postbacks", key) == []
    saved = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    r = await api.call("PATCH", f"/v1/postbacks/{saved['id']}", key, json={"url": url})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "url"


async def test_allowed_networks_are_set_by_the_operator_and_shown(api: Api) -> None:
    world = await api.world()
    partner, key = world.partner, world.partner["api_key"]
    assert partner["allowed_networks"] == []
    body = {**LIFECYCLE, "url": "http://10.1.2.3/pb?a={ActionId}"}
    r = await api.call("POST", "/v1/postbacks", key, json=body)
    assert r.status_code == 422
    r = await api.call(
        "PATCH", f"/v1/accounts/{partner['id']}", key, json={"allowed_networks": ["10.0.0.0/8"]}
    )
    assert r.status_code == 403  # not the account itself
    changed = await api.ok(
        "PATCH", f"/v1/accounts/{partner['id']}", json={"allowed_networks": ["10.1.0.0/16"]}
    )
    assert changed["allowed_networks"] == ["10.1.0.0/16"]
    assert (await api.ok("GET", "/v1/accounts/me", key))["allowed_networks"] == ["10.1.0.0/16"]
    await api.ok("POST", "/v1/postbacks", key, json=body)
    # Another account is not opened by it.
    brand_key = world.brand["api_key"]
    media = await api.ok("POST", "/v1/media-sources", brand_key, json={"name": "m"})
    r = await api.call(
        "POST",
        "/v1/postbacks",
        brand_key,
        json={
            "kind": "media_source",
            "media_source_id": media["id"],
            "event_type_id": world.event_type["id"],
            "url": body["url"],
        },
    )
    assert r.status_code == 422
    assert [p["code"] for p in r.json()["detail"]] == ["blocked_address"]
    created = await api.ok(
        "POST",
        "/v1/accounts",
        json={"name": "In", "kind": "partner", "allowed_networks": ["192.168.1.7"]},
    )
    assert created["allowed_networks"] == ["192.168.1.7/32"]


@pytest.mark.parametrize(
    "networks", [["not-a-net"], ["10.0.0.0/33"], "10.0.0.0/8", [1], ["10.0.0.0/8\x00"]]
)
async def test_bad_allowed_networks_are_a_422_naming_the_field(api: Api, networks: Any) -> None:
    world = await api.world()
    r = await api.call(
        "PATCH", f"/v1/accounts/{world.partner['id']}", json={"allowed_networks": networks}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"].startswith("allowed_networks"), r.text
    r = await api.call(
        "POST", "/v1/accounts", json={"name": "x", "kind": "brand", "allowed_networks": networks}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"].startswith("allowed_networks"), r.text
    assert (await api.ok("GET", "/v1/accounts/me", world.partner["api_key"]))[
        "allowed_networks"
    ] == []


async def test_unknown_account_is_a_404(api: Api) -> None:
    r = await api.call("PATCH", "/v1/accounts/acc_nope", json={"allowed_networks": []})
    assert r.status_code == 404
