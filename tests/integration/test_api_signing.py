"""The signing-secret routes: shown to the postback's owner only, rotated with an overlap."""

from __future__ import annotations

from datetime import datetime, timedelta
from ipaddress import ip_network
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.apiclient import LIFECYCLE, Api, running_api
from tests.e2e.receiver import receiver


async def test_owner_reads_and_rotates_the_secret(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    created = await api.ok("POST", "/v1/postbacks", key, json=LIFECYCLE)
    assert created["signing_enabled"] is True
    path = f"/v1/postbacks/{created['id']}/secret"
    first = await api.ok("GET", path, key)
    assert first["secret"].startswith("whsec_")
    assert first["previous_secret_expires_at"] is None
    assert (await api.ok("GET", path))["secret"] == first["secret"]  # the operator too

    rotated = await api.ok("POST", f"{path}/rotate", key)
    assert rotated["secret"] != first["secret"]
    until = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert timedelta(hours=23) < until - datetime.now(until.tzinfo) <= timedelta(hours=24)
    short = await api.ok("POST", f"{path}/rotate", key, json={"keep_old_seconds": 60})
    until = datetime.fromisoformat(short["previous_secret_expires_at"])
    assert until - datetime.now(until.tzinfo) <= timedelta(seconds=60)
    assert (await api.ok("GET", path, key))["secret"] == short["secret"]


async def test_another_account_gets_a_404_and_bad_input_a_422(api: Api) -> None:
    world = await api.world()
    created = await api.ok("POST", "/v1/postbacks", world.partner["api_key"], json=LIFECYCLE)
    path = f"/v1/postbacks/{created['id']}/secret"
    other = world.brand["api_key"]
    assert (await api.call("GET", path, other)).status_code == 404
    assert (await api.call("POST", f"{path}/rotate", other)).status_code == 404
    r = await api.call(
        "POST", f"{path}/rotate", world.partner["api_key"], json={"keep_old_seconds": -1}
    )
    assert r.status_code == 422
    assert "keep_old_seconds" in r.text


async def test_signing_can_be_turned_off_and_on(api: Api) -> None:
    world = await api.world()
    key = world.partner["api_key"]
    created = await api.ok(
        "POST", "/v1/postbacks", key, json={**LIFECYCLE, "signing_enabled": False}
    )
    assert created["signing_enabled"] is False
    patched = await api.ok(
        "PATCH", f"/v1/postbacks/{created['id']}", key, json={"signing_enabled": True}
    )
    assert patched["signing_enabled"] is True


async def test_a_test_send_is_signed_with_the_current_secret(tmp_path: Any) -> None:
    async with (
        receiver() as rec,
        running_api(
            f"sqlite:///{tmp_path}/t.db", allowed_networks=(ip_network("127.0.0.0/8"),)
        ) as api,
    ):
        world = await api.world()
        key = world.partner["api_key"]
        body = {
            **LIFECYCLE,
            "url": rec.url("/hook"),
            "method": "POST",
            "body": '{"a": "{ActionId}"}',
            "body_format": "json",
        }
        postback = await api.ok("POST", "/v1/postbacks", key, json=body)
        secret = (await api.ok("GET", f"/v1/postbacks/{postback['id']}/secret", key))["secret"]
        result = await api.ok("POST", f"/v1/postbacks/{postback['id']}/test", key)
        assert result["delivered"] is True
        shown = dict(result["request"]["headers"])
        assert shown["webhook-signature"] == "[redacted]"
        [seen] = rec.on("/hook")
        Webhook(secret).verify(seen.body.encode(), seen.headers)
        assert seen.headers["webhook-id"].startswith("test_")
