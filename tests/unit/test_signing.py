"""Signing is a pure function; its output is checked against the reference verifier."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from postback.delivery import signing

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_a_new_secret_is_whsec_and_24_random_bytes() -> None:
    a, b = signing.new_secret(), signing.new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 24


def test_the_published_example_signature() -> None:
    # The Standard Webhooks specification's worked example.
    value = signing.signature(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    assert value == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_headers_verify_with_each_secret_and_not_with_another() -> None:
    old, new, other = signing.new_secret(), signing.new_secret(), signing.new_secret()
    stamp = int(datetime.now(UTC).timestamp())
    body = '{"a": "é"}'.encode()  # the verifier parses the body as JSON once it verifies
    headers = dict(signing.headers("dlv_1", stamp, body, [new, old]))
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_no_secret_no_headers() -> None:
    assert signing.headers("dlv_1", 1, b"", []) == ()


def test_active_secrets() -> None:
    later = NOW + timedelta(hours=1)
    assert signing.active_secrets(False, "a", "b", later, NOW) == ()
    assert signing.active_secrets(True, "a", None, None, NOW) == ("a",)
    assert signing.active_secrets(True, "a", "b", later, NOW) == ("a", "b")
    assert signing.active_secrets(True, "a", "b", NOW, NOW) == ("a",)
