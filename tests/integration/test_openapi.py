"""The OpenAPI description itself: short unique operationIds, tags by resource, and
every 4xx a route answers documented with its schema (checked by calling each route)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.apiclient import Api, running_api

VERBS = "get|list|create|update|delete|preview|test|redeliver|replay|ingest|revoke|record|rotate"
VERB_NOUN = re.compile(rf"^({VERBS})(_[a-z]+)+$")
RESOURCES = {
    "health",
    "inbox",
    "accounts",
    "keys",
    "programs",
    "contracts",
    "media-sources",
    "postbacks",
    "parameters",
    "events",
    "deliveries",
    "notices",
    "replays",
}
PUBLIC = {"/v1/parameters/{kind}", "/v1/info"}
MESSAGE = "#/components/schemas/MessageOut"
PROBLEMS = "#/components/schemas/ProblemOut"


@pytest.fixture
async def api(tmp_path: Any) -> AsyncIterator[Api]:
    async with running_api(f"sqlite:///{tmp_path}/openapi.db", max_body_bytes=4096) as client:
        yield client


@pytest.fixture
async def spec(api: Api) -> dict[str, Any]:
    return (await api.client.get("/openapi.json")).json()  # type: ignore[no-any-return]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def _ref(op: dict[str, Any], status: int) -> str | None:
    response = op["responses"].get(str(status))
    if response is None:
        return None
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref")  # type: ignore[no-any-return]


def test_operation_ids_are_short_unique_verb_nouns(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(spec)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert [i for i in ids if not VERB_NOUN.match(i)] == []
    assert {
        "create_postback",
        "list_postbacks",
        "get_postback",
        "update_postback",
        "delete_postback",
        "preview_postback",
        "test_postback",
        "list_deliveries",
        "get_delivery",
        "redeliver_delivery",
        "replay_deliveries",
        "list_parameters",
        "ingest_events",
        "list_keys",
        "create_key",
        "revoke_key",
    } <= set(ids)


def test_every_operation_is_tagged_by_its_resource(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        assert len(op.get("tags", [])) == 1, (method, path)
        assert op["tags"][0] in RESOURCES, (method, path, op["tags"])


def test_every_4xx_is_documented_with_its_schema(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        where = (method, path)
        if path.startswith("/v1/") and path not in PUBLIC:
            assert _ref(op, 401) == MESSAGE, where
            assert _ref(op, 422) == PROBLEMS, where
        if "{" in path:
            assert _ref(op, 404) == MESSAGE, where
        if "requestBody" in op:
            assert _ref(op, 413) == MESSAGE, where
        for status in op["responses"]:
            if status.startswith("4"):
                assert _ref(op, int(status)) in (MESSAGE, PROBLEMS), (where, status)


def _fits(body: Any, ref: str | None) -> bool:
    if ref == MESSAGE:
        return isinstance(body, dict) and isinstance(body.get("detail"), str)
    if ref == PROBLEMS:
        fields = {"field", "code", "position", "message"}
        detail = body.get("detail") if isinstance(body, dict) else None
        return isinstance(detail, list) and all(set(p) == fields for p in detail)
    return False


async def test_what_each_route_answers_is_documented(api: Api, spec: dict[str, Any]) -> None:
    """Each route is called without a key, with an account's key, with unknown ids, with
    a malformed and with an oversized body: every 4xx it gives is in its description,
    and the body has the documented schema."""
    brand = await api.account("brand")
    seen: set[tuple[str, str, int]] = set()
    for method, path, op in _operations(spec):
        url = re.sub(r"\{[^}]+\}", "nope", path)
        calls: list[dict[str, Any]] = [
            {"headers": {}},
            {"headers": {"Authorization": f"Bearer {brand['api_key']}"}},
            {"headers": {"Authorization": "Bearer pbk_test_operator_key"}},
        ]
        if "requestBody" in op:
            calls += [
                {"headers": calls[2]["headers"], "content": b"{not json"},
                {"headers": calls[2]["headers"], "json": {"x": "y" * 8000}},
                {"headers": calls[1]["headers"], "json": {"unknown_field": 1}},
            ]
        for kw in calls:
            headers = {"Content-Type": "application/json", **kw.pop("headers")}
            r = await api.client.request(method, url, headers=headers, **kw)
            assert str(r.status_code) in op["responses"], (method, path, r.status_code, r.text)
            if 400 <= r.status_code < 500:
                assert _fits(r.json(), _ref(op, r.status_code)), (method, path, r.text)
            seen.add((method, path, r.status_code))
    statuses = {s for _, _, s in seen}
    assert {401, 403, 404, 413, 422} <= statuses  # the calls reached every kind of refusal
