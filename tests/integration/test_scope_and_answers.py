"""Postback settings as the seeds configure them (the Event Trigger, installs and in-app
events for mobile app event types only, no setting a kind does not take), actions from
a media source alone, and API answers that say what happened (issue 10, points 2-4, 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postback.domain.records import DeliveryStatus
from tests.apiclient import LIFECYCLE, Api, World
from tests.integration.test_store_helpers import result


def integration(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "partner_integration",
        "url": "https://p.example/?a={ActionId}",
        "partner_id": world.partner["id"],
        "event_type_id": world.event_type["id"],
        **extra,
    }


def fields(r: Any) -> set[tuple[str, str]]:
    return {(p["field"], p["code"]) for p in r.json()["detail"]}


# -- 2. the Event Trigger; installs and in-app events for mobile app event types ------------
async def test_the_trigger_is_always_by_default_stored_and_shown(api: Api) -> None:
    world = await api.world()
    key = world.brand["api_key"]
    created = await api.ok("POST", "/v1/postbacks", key, json=integration(world))
    assert created["trigger"] == "always"
    assert (await api.ok("GET", f"/v1/postbacks/{created['id']}", key))["trigger"] == "always"
    given = await api.ok("POST", "/v1/postbacks", key, json=integration(world, trigger="always"))
    assert given["trigger"] == "always"
    r = await api.call("POST", "/v1/postbacks", key, json=integration(world, trigger="sometimes"))
    assert r.status_code == 422 and tuple({f for f, _ in fields(r)}) == ("trigger",)
    partner_key = world.partner["api_key"]
    lifecycle = await api.ok("POST", "/v1/postbacks", partner_key, json=LIFECYCLE)
    assert lifecycle["trigger"] is None
    r = await api.call(
        "POST", "/v1/postbacks", partner_key, json={**LIFECYCLE, "trigger": "always"}
    )
    assert r.status_code == 422 and fields(r) == {("trigger", "not_allowed")}


async def _mobile_world(api: Api, world: World, category: str) -> str:
    """A second program of the brand with one event type of ``category``, in a contract
    with the partner; return the event type's id."""
    key = world.brand["api_key"]
    program = await api.ok("POST", "/v1/programs", key, json={"name": f"App {category}"})
    event_type = await api.ok(
        "POST",
        f"/v1/programs/{program['id']}/event-types",
        key,
        json={"name": category, "category": category},
    )
    contract = {
        "partner_id": world.partner["id"],
        "program_id": program["id"],
        "event_type_ids": [event_type["id"]],
    }
    await api.ok("POST", "/v1/contracts", key, json=contract)
    return str(event_type["id"])


@pytest.mark.parametrize(
    "setting",
    [{"include_installs": True}, {"in_app_event": "purchase"}],
    ids=lambda s: next(iter(s)),
)
async def test_installs_and_in_app_events_only_for_mobile_app_event_types(
    api: Api, setting: dict[str, Any]
) -> None:
    world = await api.world()  # its event type is a sale
    key = world.brand["api_key"]
    r = await api.call("POST", "/v1/postbacks", key, json=integration(world, **setting))
    assert r.status_code == 422
    [name] = setting
    assert fields(r) == {(name, "not_allowed")}
    assert "mobile app" in r.json()["detail"][0]["message"]
    # Nor by changing a saved one.
    saved = await api.ok("POST", "/v1/postbacks", key, json=integration(world))
    r = await api.call("PATCH", f"/v1/postbacks/{saved['id']}", key, json=setting)
    assert r.status_code == 422 and fields(r) == {(name, "not_allowed")}
    for category in ("app_install", "in_app_event"):
        event_type = await _mobile_world(api, world, category)
        body = integration(world, event_type_id=event_type, **setting)
        created = await api.ok("POST", "/v1/postbacks", key, json=body)
        assert created[name] == setting[name]


# -- 4. settings a kind does not take --------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ({"partner_id": "acc_x"}, "partner_id"),
        ({"media_source_id": "ms_x"}, "media_source_id"),
        ({"event_type_id": "trk_x"}, "event_type_id"),
        ({"include_installs": True}, "include_installs"),
        ({"in_app_event": "purchase"}, "in_app_event"),
    ],
)
async def test_a_lifecycle_postback_refuses_scope_settings_it_does_not_take(
    api: Api, setting: dict[str, Any], field: str
) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    r = await api.call("POST", "/v1/postbacks", key, json={**LIFECYCLE, **setting})
    assert r.status_code == 422, r.text
    assert fields(r) == {(field, "not_allowed")}
    assert await api.ok("GET", "/v1/postbacks", key) == []


async def test_other_kinds_refuse_what_they_do_not_take_on_create_and_update(api: Api) -> None:
    world = await api.world()
    partner, brand = world.partner["api_key"], world.brand["api_key"]
    clearing = {"kind": "action_clearing", "url": "https://p.example/?a={ActionId}"}
    r = await api.call("POST", "/v1/postbacks", partner, json={**clearing, "include_locking": True})
    assert fields(r) == {("include_locking", "not_allowed")}
    source = await api.ok("POST", "/v1/media-sources", brand, json={"name": "Net"})
    media = {
        "kind": "media_source",
        "url": "https://net.example/?a={ActionId}",
        "media_source_id": source["id"],
        "event_type_id": world.event_type["id"],
    }
    r = await api.call("POST", "/v1/postbacks", brand, json={**media, "partner_id": "acc_x"})
    assert fields(r) == {("partner_id", "not_allowed")}
    r = await api.call("POST", "/v1/postbacks", brand, json={**media, "trigger": "always"})
    assert fields(r) == {("trigger", "not_allowed")}
    r = await api.call(
        "POST", "/v1/postbacks", brand, json=integration(world, media_source_id=source["id"])
    )
    assert fields(r) == {("media_source_id", "not_allowed")}
    saved = await api.ok("POST", "/v1/postbacks", partner, json=LIFECYCLE)
    r = await api.call(
        "PATCH", f"/v1/postbacks/{saved['id']}", partner, json={"include_installs": True}
    )
    assert fields(r) == {("include_installs", "not_allowed")}
    got = await api.ok("GET", f"/v1/postbacks/{saved['id']}", partner)
    assert got["include_installs"] is False
    await api.ok("PATCH", f"/v1/postbacks/{saved['id']}", partner, json={"include_locking": True})


# -- 3. an action from a media source alone --------------------------------------------------
async def test_an_action_from_a_media_source_alone_reaches_its_postbacks(api: Api) -> None:
    world = await api.world()
    key = world.brand["api_key"]
    source = await api.ok("POST", "/v1/media-sources", key, json={"name": "Ad network"})
    media = {
        "kind": "media_source",
        "url": "https://net.example/?a={ActionId}&src={MediaSourceId}",
        "media_source_id": source["id"],
        "event_type_id": world.event_type["id"],
    }
    postback = await api.ok("POST", "/v1/postbacks", key, json=media)
    await api.ok("POST", "/v1/postbacks", world.partner["api_key"], json=LIFECYCLE)
    event = world.action("ms-only", MediaSourceId=source["id"])
    del event["data"]["MediaPartnerId"]
    answer = await api.ok("POST", "/v1/events", json=event)
    assert answer["deliveries"] == 1
    [delivery] = (await api.ok("GET", "/v1/deliveries", key))["items"]
    assert delivery["postback_id"] == postback["id"]
    assert delivery["request"]["url"] == f"https://net.example/?a=A-1&src={source['id']}"
    assert (await api.ok("GET", "/v1/deliveries", world.partner["api_key"]))["items"] == []
    # Neither a partner nor a media source: a 422 naming the partner.
    del event["data"]["MediaSourceId"]
    r = await api.call("POST", "/v1/events", json={**event, "id": "nobody"})
    assert r.status_code == 422
    assert fields(r) == {("data.MediaPartnerId", "required")}


# -- 6. honest answers -----------------------------------------------------------------------
async def test_errors_in_a_lone_event_name_the_field_without_an_index(api: Api) -> None:
    world = await api.world()
    alone = world.action("bad", Payout="twelve", ActionId=None)
    r = await api.call("POST", "/v1/events", json=alone)
    assert r.status_code == 422
    assert fields(r) == {("data.Payout", "bad_value"), ("data.ActionId", "required")}
    r = await api.call("POST", "/v1/events", json=[world.action("ok"), alone])
    assert fields(r) == {("[1].data.Payout", "bad_value"), ("[1].data.ActionId", "required")}


async def test_a_repeated_event_creates_nothing_and_names_the_original(api: Api) -> None:
    world = await api.world()
    await api.ok("POST", "/v1/postbacks", world.partner["api_key"], json=LIFECYCLE)
    first = await api.ok("POST", "/v1/events", json=world.action("once"))
    assert first["deliveries"] == 1 and first["events"][0]["original"] is None
    again = await api.ok("POST", "/v1/events", json=world.action("once"))
    assert again["deliveries"] == 0
    [repeat] = again["events"]
    assert (repeat["duplicate"], repeat["deliveries"]) == (True, 0)
    original = repeat["original"]
    assert (original["id"], original["deliveries"]) == ("once", 1)
    received = datetime.fromisoformat(original["received_at"])
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=1)
    # Twice in one list: the second names the first.
    batch = await api.ok("POST", "/v1/events", json=[world.action("twin"), world.action("twin")])
    assert [(e["duplicate"], e["deliveries"]) for e in batch["events"]] == [(False, 1), (True, 0)]
    assert batch["events"][1]["original"]["deliveries"] == 1 and batch["deliveries"] == 1
    assert len((await api.ok("GET", "/v1/deliveries"))["items"]) == 2


async def test_replay_goes_through_the_services_checks(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    other = await api.account("partner", "cashback")
    for who, body in (
        (key, {"postback_id": "pb_nope"}),
        (other["api_key"], {"postback_id": postback["id"]}),
    ):
        r = await api.call("POST", "/v1/deliveries/replay", who, json=body)
        assert r.status_code == 404, r.text
    r = await api.call("POST", "/v1/deliveries/replay", key, json={})
    assert r.status_code == 422 and fields(r) == {("all", "required")}
    r = await api.call(
        "POST",
        "/v1/deliveries/replay",
        key,
        json={"since": "2026-11-24T00:00:00Z", "until": "2026-11-23T00:00:00Z"},
    )
    assert r.status_code == 422 and fields(r) == {("since", "out_of_range")}
    # The operator sees every account's postbacks.
    started = await api.ok("POST", "/v1/deliveries/replay", json={"postback_id": postback["id"]})
    assert started["queued"] == 0


async def test_a_postback_disabled_by_the_system_reads_disabled_until_enabled(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    postback = await api.ok("POST", "/v1/postbacks", key, json={**LIFECYCLE, "name": "Feed"})
    await api.ok("POST", "/v1/events", json=world.action("d-1"))
    # Three days of failed attempts, as a worker reports them.
    store = api.app.state.service.store
    start = datetime.now(UTC)
    for hours in (0, 71, 72):
        at = start + timedelta(hours=hours)
        [claim] = await store.claim("w1", at, 10, 60)
        status = DeliveryStatus.RETRYING
        await store.complete([result(claim, status, at, next_due=at + timedelta(hours=1))])
    shown = await api.ok("GET", f"/v1/postbacks/{postback['id']}", key)
    assert shown["enabled"] is False
    assert "no success for 3 days" in shown["disabled_reason"]
    assert datetime.fromisoformat(shown["disabled_at"]) >= start
    # Another change leaves it off; enabling it clears the reason and the time.
    renamed = await api.ok("PATCH", f"/v1/postbacks/{postback['id']}", key, json={"name": "F2"})
    assert renamed["enabled"] is False and renamed["disabled_at"] == shown["disabled_at"]
    enabled = await api.ok("PATCH", f"/v1/postbacks/{postback['id']}", key, json={"enabled": True})
    assert (enabled["enabled"], enabled["disabled_reason"], enabled["disabled_at"]) == (
        True,
        None,
        None,
    )
