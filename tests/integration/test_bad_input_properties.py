"""Hypothesis: strings full of NUL, lone surrogates and control characters, in every
place the API takes text, never get a 5xx, on SQLite and on PostgreSQL (issue 9)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.apiclient import ADMIN, Api, World, running_api

# Every code point, surrogates included, weighted towards the troublesome ones.
NASTY = st.text(
    st.one_of(
        st.sampled_from(["\x00", "\ud800", "\udfff", "\x7f", "\r", "\n", "\t", "\x1b", "\ufffe"]),
        st.characters(min_codepoint=0, max_codepoint=0x1F),
        st.characters(categories=["Cs"]),
        st.characters(),
    ),
    max_size=12,
)
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


class Loop:
    """The API on a loop of its own, for hypothesis' synchronous examples."""

    def __init__(self, url: str) -> None:
        self.runner = asyncio.Runner()
        self.context: AbstractAsyncContextManager[Api] = running_api(url)
        self.api: Api = self.runner.run(self.context.__aenter__())
        self.world: World = self.runner.run(self.api.world())

    def send(self, method: str, path: str, body: Any = None, key: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {key or ADMIN}"}
        kw: dict[str, Any] = {}
        if body is not None:
            # ensure_ascii: a lone surrogate travels as \ud800, as producers' libraries send it
            kw["content"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = self.api.client.request(method, path, headers=headers, **kw)
        response = self.runner.run(request)
        assert response.status_code < 500, (method, path, body, response.text)
        return response.status_code

    def close(self) -> None:
        self.runner.run(self.context.__aexit__(None, None, None))
        self.runner.close()


@pytest.fixture
def loop(database_url: str) -> Iterator[Loop]:
    opened = Loop(database_url)
    try:
        yield opened
    finally:
        opened.close()


def test_events_with_nasty_text_get_no_5xx(loop: Loop) -> None:
    seen: set[int] = set()

    @EXAMPLES
    @given(NASTY, NASTY, NASTY, NASTY, NASTY)
    @example("e\x00", "A", "", "", "k")
    @example("e", "A", "", "\ud800", "k")
    @example("e", "A", "\x01\x7f", "", "k\udc00")
    def check(event_id: str, action: str, custom: str, sku: str, key: str) -> None:
        event = loop.world.action(
            event_id or "x", ActionId=action or "A", Custom=custom, items=[{"sku": sku}]
        )
        event["data"][key or "k"] = custom
        seen.add(loop.send("POST", "/v1/events", event))

    check()
    assert seen <= {202, 422} and 422 in seen


def test_postbacks_with_nasty_text_get_no_5xx(loop: Loop) -> None:
    key = loop.world.partner["api_key"]
    seen: set[int] = set()

    @EXAMPLES
    @given(NASTY, NASTY, NASTY, NASTY)
    @example("", "X", "\x00", "")
    @example("", "X", "", "\ud800")
    def check(url: str, header: str, value: str, name: str) -> None:
        body = {
            "kind": "action_lifecycle",
            "url": f"https://p.example/{url}?a={{ActionId}}",
            "headers": {header or "X": value},
            "name": name,
            "method": "POST",
            "body_format": "xml",
            "body": f"<a>{value}{{ActionId}}</a>",
        }
        seen.add(loop.send("POST", "/v1/postbacks", body, key))

    check()
    assert seen <= {201, 422} and 422 in seen


def test_ids_and_query_parameters_with_nasty_text_get_no_5xx(loop: Loop) -> None:
    @EXAMPLES
    @given(NASTY, NASTY)
    @example("\x00", "\ud800")
    @example("/", "x")
    def check(text: str, other: str) -> None:
        path_id = quote(text or "x", safe="", errors="surrogatepass")
        query = quote(other, safe="", errors="surrogatepass")
        # An id ending in "/" (%2F) reads as a trailing slash: the router redirects it to
        # the path without it, which is no id and no error either.
        refused = (404, 422, 307) if text.endswith("/") else (404, 422)
        assert loop.send("GET", f"/v1/postbacks/{path_id}") in refused
        assert loop.send("GET", f"/v1/deliveries/{path_id}") in refused
        assert loop.send("POST", f"/v1/deliveries/{path_id}/redeliver") in (404, 422)
        assert loop.send("GET", f"/v1/deliveries?action_id={query}&cursor={query}") in (200, 422)
        assert loop.send("POST", "/v1/deliveries/replay", {"action_id": other}) in (200, 422)

    check()
