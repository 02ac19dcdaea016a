"""The partner directory (GET /v1/partners): what a brand picks a contract's partner from,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.apiclient import Api, running_api

NAMES = ["Zeta Rewards", "acme cashback", "Acme Coupons", "Öko-Bonus", "50% Club", "a_b media"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def api(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Api]:
    url = (
        f"sqlite:///{tmp_path}/dir.db"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    async with running_api(url) as client:
        yield client


async def _partners(api: Api) -> dict[str, dict[str, Any]]:
    made = {}
    for n, name in enumerate(NAMES):
        ptype = ["cashback", "coupon", "loyalty"][n % 3]
        made[name] = await api.ok(
            "POST",
            "/v1/accounts",
            json={
                "name": name,
                "kind": "partner",
                "partner_type": ptype,
                "allowed_networks": ["10.9.0.0/16"],
            },
        )
    return made


async def _names(api: Api, key: str | None, **params: Any) -> list[str]:
    page = await api.ok("GET", "/v1/partners", key, params=params)
    return [p["name"] for p in page["items"]]


async def test_a_brand_sees_every_partner_by_name_and_nothing_more(api: Api) -> None:
    made = await _partners(api)
    brand = await api.account("brand")
    page = await api.ok("GET", "/v1/partners", brand["api_key"])
    assert page["next_cursor"] is None
    # Partners only (no brand, no operator), each as id, name and type: no key, no networks.
    assert {p["name"] for p in page["items"]} == set(NAMES)
    for item in page["items"]:
        assert set(item) == {"id", "name", "partner_type"}
        assert item == {
            "id": made[item["name"]]["id"],
            "name": item["name"],
            "partner_type": made[item["name"]]["partner_type"],
        }
    # In name order, case folded: "acme cashback" and "Acme Coupons" side by side.
    folded = [p["name"].lower() for p in page["items"]]
    assert folded.index("acme cashback") + 1 == folded.index("acme coupons")
    assert folded[: folded.index("zeta rewards")] == sorted(folded[: folded.index("zeta rewards")])
    # The operator sees the same directory.
    assert await _names(api, None) == [p["name"] for p in page["items"]]


async def test_q_finds_names_containing_it_whatever_the_case(api: Api) -> None:
    await _partners(api)
    key = (await api.account("brand"))["api_key"]
    assert await _names(api, key, q="ACME") == ["acme cashback", "Acme Coupons"]
    assert await _names(api, key, q="öko") == ["Öko-Bonus"]  # beyond ASCII, both databases
    assert await _names(api, key, q="ÖKO") == ["Öko-Bonus"]
    # % and _ are plain characters, not patterns.
    assert await _names(api, key, q="%") == ["50% Club"]
    assert await _names(api, key, q="_") == ["a_b media"]
    assert await _names(api, key, q="nobody") == []
    assert len(await _names(api, key, q="  ")) == len(NAMES)  # blank: no filter


async def test_pages_walk_the_whole_directory_once(api: Api) -> None:
    await _partners(api)
    key = (await api.account("brand"))["api_key"]
    everything = await _names(api, key)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await api.ok("GET", "/v1/partners", key, params=params)
        assert len(page["items"]) <= 2
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    # A filter and pages together.
    first = await api.ok("GET", "/v1/partners", key, params={"q": "a", "limit": 1})
    rest = await api.ok(
        "GET", "/v1/partners", key, params={"q": "a", "limit": 10, "cursor": first["next_cursor"]}
    )
    both = [p["name"] for p in first["items"] + rest["items"]]
    assert both == await _names(api, key, q="a")


async def test_a_partner_is_refused(api: Api) -> None:
    partner = await api.account("partner", "cashback")
    r = await api.call("GET", "/v1/partners", partner["api_key"])
    assert r.status_code == 403
    assert r.json() == {"detail": "only brands and the operator can list partners"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"acc_1|a\x00").decode()}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()}, "cursor"),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    api: Api, params: dict[str, Any], field: str
) -> None:
    brand = await api.account("brand")
    r = await api.call("GET", "/v1/partners", brand["api_key"], params=params)
    assert r.status_code == 422, r.text
    assert [p["field"] for p in r.json()["detail"]] == [field]
