"""API keys: any number per account, shown once, listed, revoked at once in every API
process; the operator's keys rotate without a restart. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from postback.domain import keys
from tests.apiclient import ADMIN, Api, running_api


async def _status(api: Api, key: str) -> int:
    return (await api.call("GET", "/v1/accounts/me", key)).status_code


async def test_an_account_creates_lists_and_revokes_its_keys(api: Api) -> None:
    brand = await api.account("brand")
    first, path = brand["api_key"], f"/v1/accounts/{brand['id']}/keys"
    created = await api.ok("POST", path, first)
    second = created["key"]
    assert second.startswith("pbk_") and second != first
    assert created["prefix"] == second[:12]
    assert await _status(api, second) == 200
    listed = await api.ok("GET", path, second)
    assert [k["prefix"] for k in listed] == [first[:12], second[:12]]
    assert all("key" not in k or k["key"] is None for k in listed)  # shown once only
    assert {k["id"] for k in listed} >= {created["id"]}
    old_id = listed[0]["id"]
    revoked = await api.ok("DELETE", f"{path}/{old_id}", second)
    assert revoked["revoked_at"] is not None
    assert await _status(api, first) == 401
    assert await _status(api, second) == 200
    again = await api.ok("DELETE", f"{path}/{old_id}", second)
    assert again["revoked_at"] == revoked["revoked_at"]
    r = await api.call("DELETE", f"{path}/key_nope", second)
    assert r.status_code == 404


async def test_the_operator_manages_any_accounts_keys(api: Api) -> None:
    partner = await api.account("partner", "cashback")
    path = f"/v1/accounts/{partner['id']}/keys"
    [only] = await api.ok("GET", path)
    await api.ok("DELETE", f"{path}/{only['id']}")
    assert await _status(api, partner["api_key"]) == 401
    fresh = await api.ok("POST", path)
    assert await _status(api, fresh["key"]) == 200
    assert (await api.call("GET", "/v1/accounts/acc_nope/keys")).status_code == 404


async def test_the_operator_key_rotates_without_a_restart(api: Api) -> None:
    created = await api.ok("POST", "/v1/accounts/operator/keys")
    new_key = created["key"]
    r = await api.call("POST", "/v1/accounts", new_key, json={"name": "b", "kind": "brand"})
    assert r.status_code == 201  # the new key is the operator's
    [listed] = await api.ok("GET", "/v1/accounts/operator/keys", new_key)
    await api.ok("DELETE", f"/v1/accounts/operator/keys/{listed['id']}", new_key)
    assert await _status(api, new_key) == 401
    assert await _status(api, ADMIN) == 200  # POSTBACK_ADMIN_KEY stays valid as configured
    brand = await api.account("brand")
    r = await api.call("GET", "/v1/accounts/operator/keys", brand["api_key"])
    assert r.status_code == 404  # "operator" names the operator's account only for it


async def test_a_revoke_is_seen_at_once_by_another_api_process(database_url: str) -> None:
    async with running_api(database_url) as one, running_api(database_url) as two:
        brand = await one.account("brand")
        key = brand["api_key"]
        assert await _status(two, key) == 200
        [listed] = await one.ok("GET", f"/v1/accounts/{brand['id']}/keys")
        await one.ok("DELETE", f"/v1/accounts/{brand['id']}/keys/{listed['id']}")
        assert await _status(two, key) == 401
        assert await _status(one, key) == 401


async def test_last_use_is_written_at_most_once_a_minute(api: Api) -> None:
    brand = await api.account("brand")
    path = f"/v1/accounts/{brand['id']}/keys"
    [before] = await api.ok("GET", path)
    assert before["last_used_at"] is None  # creating the account is not a use of its key
    await _status(api, brand["api_key"])
    [used] = await api.ok("GET", path, brand["api_key"])
    assert used["last_used_at"] is not None
    await _status(api, brand["api_key"])
    [later] = await api.ok("GET", path, brand["api_key"])
    assert later["last_used_at"] == used["last_used_at"]


def test_worth_noting_once_a_minute() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert keys.worth_noting(None, now)
    assert not keys.worth_noting(now - timedelta(seconds=59), now)
    assert keys.worth_noting(now - timedelta(seconds=60), now)
