"""Tenant isolation: every route, called with another account's key, reveals and changes
nothing of the first account's (a 404, or a 403 for the operator's routes)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apiclient import LIFECYCLE, Api, World


async def _victim(api: Api) -> tuple[World, dict[str, str]]:
    world = await api.world()
    postback = await api.ok("POST", "/v1/postbacks", world.partner["api_key"], json=LIFECYCLE)
    await api.ok("POST", "/v1/events", json=world.action("iso-1"))
    [delivery] = (await api.ok("GET", "/v1/deliveries", world.partner["api_key"]))["items"]
    replay = await api.ok(
        "POST", "/v1/deliveries/replay", world.partner["api_key"], json={"all": True}
    )
    account_id = world.partner["id"]
    [key] = await api.ok("GET", f"/v1/accounts/{account_id}/keys", world.partner["api_key"])
    source = await api.ok("POST", "/v1/media-sources", world.brand["api_key"], json={"name": "m"})
    ids = {
        "replay_id": replay["replay_id"],
        "account_id": account_id,
        "key_id": key["id"],
        "postback_id": postback["id"],
        "delivery_id": delivery["id"],
        "program_id": world.program["id"],
        "name": "whatever",
        "kind": "action",
        "event_type_id": world.event_type["id"],
        "media_source_id": source["id"],
    }
    return world, ids


# Every route of the API, with what an intruder sends. New routes must be added here:
# test_every_route_is_covered fails otherwise.
ROUTES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/postbacks/{postback_id}"): {},
    ("PATCH", "/v1/postbacks/{postback_id}"): {"json": {"enabled": False}},
    ("DELETE", "/v1/postbacks/{postback_id}"): {},
    ("POST", "/v1/postbacks/{postback_id}/preview"): {},
    ("POST", "/v1/postbacks/{postback_id}/test"): {},
    ("GET", "/v1/postbacks/{postback_id}/secret"): {},
    ("POST", "/v1/postbacks/{postback_id}/secret/rotate"): {},
    ("GET", "/v1/deliveries/{delivery_id}"): {},
    ("POST", "/v1/deliveries/{delivery_id}/redeliver"): {},
    ("POST", "/v1/programs/{program_id}/event-types"): {"json": {"name": "x"}},
    ("GET", "/v1/replays/{replay_id}"): {},
    ("GET", "/v1/accounts/{account_id}/keys"): {},
    ("POST", "/v1/accounts/{account_id}/keys"): {},
    ("DELETE", "/v1/accounts/{account_id}/keys/{key_id}"): {},
}
LISTS = [
    "/v1/postbacks",
    "/v1/deliveries",
    "/v1/programs",
    "/v1/contracts",
    "/v1/accounts",
    "/v1/notices",
    "/v1/event-types",
    "/v1/media-sources",
]
OPERATOR_ONLY: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/accounts"): {"json": {"name": "x", "kind": "brand"}},
    ("PATCH", "/v1/accounts/{account_id}"): {"json": {"allowed_networks": ["10.0.0.0/8"]}},
    ("POST", "/v1/events"): {
        "json": {"id": "x", "type": "action.tracked", "occurred_at": "2026-01-01T00:00:00Z"}
    },
}
# The partner directory shows every partner's id, name and type to brands (on purpose:
# a brand picks the partner of a contract from it); partners are refused.
DIRECTORY = {("GET", "/v1/partners")}
# Routes open to any account, whose objects are created for the caller itself, or that
# hold no account's data (health, metrics, catalogues, the inbox by its unguessable name).
SELF_SCOPED = {
    ("POST", "/v1/postbacks"),
    ("POST", "/v1/programs"),
    ("POST", "/v1/contracts"),
    ("POST", "/v1/media-sources"),
    ("POST", "/v1/deliveries/replay"),
    ("GET", "/v1/accounts/me"),
    ("GET", "/v1/parameters/{kind}"),
    ("POST", "/v1/postbacks/preview"),  # renders the caller's own unsaved configuration
    ("POST", "/v1/postbacks/test"),
    ("GET", "/v1/info"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/inbox/{name}/requests"),
}


async def test_every_route_is_covered(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    routes = {r for r in routes if not r[1].startswith("/inbox/{name}") or r[0] == "GET"}
    covered = set(ROUTES) | set(OPERATOR_ONLY) | SELF_SCOPED | DIRECTORY
    covered |= {("GET", p) for p in LISTS}
    assert routes - covered == set()


@pytest.mark.parametrize("intruder_kind", ["brand", "partner"])
async def test_another_account_gets_404_on_every_object_route(api: Api, intruder_kind: str) -> None:
    world, ids = await _victim(api)
    intruder = await api.account(intruder_kind, "cashback" if intruder_kind == "partner" else None)
    for (method, path), kwargs in ROUTES.items():
        r = await api.call(method, path.format(**ids), intruder["api_key"], **kwargs)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    # Nothing changed for the owner.
    key = world.partner["api_key"]
    postback = await api.ok("GET", f"/v1/postbacks/{ids['postback_id']}", key)
    assert postback["enabled"] is True
    delivery = await api.ok("GET", f"/v1/deliveries/{ids['delivery_id']}", key)
    assert delivery["status"] == "scheduled"
    keys = await api.ok("GET", f"/v1/accounts/{ids['account_id']}/keys", key)
    assert [k["revoked_at"] for k in keys] == [None]


@pytest.mark.parametrize("intruder_kind", ["brand", "partner"])
async def test_lists_show_only_the_callers_objects(api: Api, intruder_kind: str) -> None:
    world, ids = await _victim(api)
    intruder = await api.account(intruder_kind, "cashback" if intruder_kind == "partner" else None)
    for path in LISTS:
        body = await api.ok("GET", path, intruder["api_key"])
        text = str(body)
        for value in (
            ids["postback_id"],
            ids["delivery_id"],
            ids["program_id"],
            ids["event_type_id"],
            ids["media_source_id"],
            world.partner["id"],
        ):
            assert value not in text, (path, body)
    # A preview naming the victim's event type and media source learns nothing of them.
    borrowed = {
        "kind": "media_source",
        "url": "https://x.example/?a={ActionId}",
        "media_source_id": ids["media_source_id"],
        "event_type_id": ids["event_type_id"],
    }
    shown = await api.ok(
        "POST", "/v1/postbacks/preview", intruder["api_key"], json={"postback": borrowed}
    )
    codes = {p["code"] for p in shown["problems"]}
    assert codes & {"not_found", "not_allowed"}, shown["problems"]
    replayed = await api.ok(
        "POST", "/v1/deliveries/replay", intruder["api_key"], json={"all": True}
    )
    assert replayed["queued"] == 0


async def test_the_directory_shows_brands_a_partner_by_name_only(api: Api) -> None:
    world, _ = await _victim(api)
    brand = await api.account("brand")
    page = await api.ok("GET", "/v1/partners", brand["api_key"])
    [listed] = [p for p in page["items"] if p["id"] == world.partner["id"]]
    assert listed == {
        "id": world.partner["id"],
        "name": world.partner["name"],
        "partner_type": "cashback",
    }
    assert world.partner["api_key"] not in str(page)
    r = await api.call("GET", "/v1/partners", world.partner["api_key"])
    assert r.status_code == 403


async def test_operator_routes_refuse_accounts(api: Api) -> None:
    world, _ = await _victim(api)
    for (method, path), kwargs in OPERATOR_ONLY.items():
        r = await api.call(method, path, world.brand["api_key"], **kwargs)
        assert r.status_code == 403, (method, path, r.text)


async def test_a_brand_cannot_use_another_brands_program(api: Api) -> None:
    world, ids = await _victim(api)
    other = await api.account("brand")
    r = await api.call(
        "POST",
        "/v1/contracts",
        other["api_key"],
        json={
            "partner_id": world.partner["id"],
            "program_id": ids["program_id"],
            "event_type_ids": [],
        },
    )
    assert r.status_code == 404
    r = await api.call(
        "POST",
        "/v1/postbacks",
        other["api_key"],
        json={
            "kind": "partner_integration",
            "url": "https://p.example/?a={ActionId}",
            "partner_id": world.partner["id"],
            "event_type_id": world.event_type["id"],
        },
    )
    assert r.status_code == 422
