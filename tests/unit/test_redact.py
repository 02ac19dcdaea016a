from __future__ import annotations

import pytest

from postback.delivery.redact import (
    REDACTED,
    is_secret_header,
    is_secret_name,
    redact,
    redact_body,
    redact_url,
)
from postback.domain.records import HttpMethod, RenderedRequest


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "X-Api-Key",
        "X-Auth-Token",
        "X-Client-Secret",
        "X-Password",
        "Api-Key",
        "X-Hub-Signature",
        "X-Session-Id",
    ],
)
def test_secret_headers(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize("name", ["Content-Type", "Accept", "User-Agent", "X-Request-Id"])
def test_ordinary_headers(name: str) -> None:
    assert not is_secret_header(name)


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "secret",
        "key",
        "password",
        "signature",
        "sig",
        "api_key",
        "apikey",
        "apiKey",
        "APIKey",
        "access_token",
        "accessToken",
        "client_secret",
        "partner-key",
        "auth",
        "pwd",
        "X-API-KEY",
        "api%5Fkey",
    ],
)
def test_secret_parameter_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["keyword", "monkey", "sign_up", "design", "passport", "author", "oid", "amount"]
)
def test_ordinary_parameter_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://p.example/cb?oid=1&token=abc&amount=9.99",
            f"https://p.example/cb?oid=1&token={REDACTED}&amount=9.99",
        ),
        (
            "https://p.example/cb?api_key=k1&sig=s1&Signature=s2",
            f"https://p.example/cb?api_key={REDACTED}&sig={REDACTED}&Signature={REDACTED}",
        ),
        (
            "https://user:hunter2@p.example:8443/cb?a=1",
            f"https://user:{REDACTED}@p.example:8443/cb?a=1",
        ),
        ("https://sk_live_abc@p.example/cb", f"https://{REDACTED}@p.example/cb"),
        ("https://p.example/a@b?x=1", "https://p.example/a@b?x=1"),  # "@" in the path
        ("https://p.example/cb#access_token=xyz", f"https://p.example/cb#access_token={REDACTED}"),
        ("https://p.example/cb?token&x=%20y+z", "https://p.example/cb?token&x=%20y+z"),
        ("https://p.example/cb", "https://p.example/cb"),
        ("https://p.example/cb?", "https://p.example/cb?"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_everything_else_is_kept_byte_for_byte() -> None:
    url = "https://p.example/c%2Fb?q=%E2%82%AC&b=a%2Bb&k=v;x=1"
    assert redact_url(url) == url


@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        (
            '{"oid": "1", "api_key": "k", "nested": {"password":"p"}, "n": 3}',
            "application/json; charset=utf-8",
            '{"oid": "1", "api_key": "R", "nested": {"password":"R"}, "n": 3}'.replace(
                "R", REDACTED
            ),
        ),
        (
            '{"token": "a \\" b", "keyword": "shoes"}',
            "application/json",
            f'{{"token": "{REDACTED}", "keyword": "shoes"}}',
        ),
        (
            "<r><oid>1</oid><ns:secret a='1'>s</ns:secret><sig>x</sig></r>",
            "application/xml; charset=utf-8",
            f"<r><oid>1</oid><ns:secret a='1'>{REDACTED}</ns:secret><sig>{REDACTED}</sig></r>",
        ),
        (
            "oid=1&password=p&amount=2",
            "application/x-www-form-urlencoded",
            f"oid=1&password={REDACTED}&amount=2",
        ),
        ('{"secret": "s"}', "", f'{{"secret": "{REDACTED}"}}'),  # sniffed: JSON
        ("<key>k</key>", "", f"<key>{REDACTED}</key>"),  # sniffed: XML
        ("token=t", "", f"token={REDACTED}"),  # sniffed: form
    ],
)
def test_redact_body(body: str, ctype: str, expected: str) -> None:
    assert redact_body(body, ctype) == expected


def test_redact_request() -> None:
    request = RenderedRequest(
        method=HttpMethod.POST,
        url="https://u:pw@p.example/cb?token=t&oid=1",
        headers=(
            ("Authorization", "Bearer abc"),
            ("Content-Type", "application/json"),
            ("X-Custom-Token", "t2"),
            ("X-Trace", "keep"),
        ),
        body='{"oid": "1", "secret": "s"}',
    )
    shown = redact(request)
    assert shown == RenderedRequest(
        method=HttpMethod.POST,
        url=f"https://u:{REDACTED}@p.example/cb?token={REDACTED}&oid=1",
        headers=(
            ("Authorization", REDACTED),
            ("Content-Type", "application/json"),
            ("X-Custom-Token", REDACTED),
            ("X-Trace", "keep"),
        ),
        body=f'{{"oid": "1", "secret": "{REDACTED}"}}',
    )
    for secret in ("pw", "Bearer abc", "t2", '"s"', "token=t&"):
        assert secret not in repr(shown)


def test_request_without_body() -> None:
    request = RenderedRequest(HttpMethod.GET, "https://p.example/?key=1", (), None)
    assert redact(request).body is None
    assert redact(request).url == f"https://p.example/?key={REDACTED}"
