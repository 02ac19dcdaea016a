"""Standard Webhooks signatures: pure functions from (id, timestamp, body, secrets) to headers.

A secret is ``whsec_`` followed by the base64 of random bytes; the HMAC key is those
bytes. The signed content is ``"{id}.{timestamp}.{body}"`` over the exact body bytes
sent; the header value is ``v1,<base64 HMAC-SHA256>``, one per secret, separated by a
space (two while a rotated-out secret is still kept).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random_source
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from postback.domain.records import RenderedRequest

PREFIX = "whsec_"
SECRET_BYTES = 24
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
NAMES = frozenset({ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER})


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 24 random bytes."""
    return PREFIX + base64.b64encode(random_source.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: ``v1,<sig>`` for each secret, space-separated."""
    content = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s), content, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def headers(
    message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    """The three Standard Webhooks headers for one request (none without a secret)."""
    if not secrets:
        return ()
    return (
        (ID_HEADER, message_id),
        (TIMESTAMP_HEADER, str(timestamp)),
        (SIGNATURE_HEADER, signature(message_id, timestamp, body, secrets)),
    )


def sign(
    request: RenderedRequest, message_id: str, timestamp: int, secrets: Sequence[str]
) -> RenderedRequest:
    """The request with the three headers (replacing any of the same names); as is
    without a secret."""
    if not secrets:
        return request
    body = b"" if request.body is None else request.body.encode("utf-8")  # as the transport
    kept = tuple((k, v) for k, v in request.headers if k.lower() not in NAMES)
    return replace(request, headers=kept + headers(message_id, timestamp, body, secrets))


def unsigned(request: RenderedRequest) -> RenderedRequest:
    """The request without the three headers: what is stored for the delivery, since
    every attempt signs anew."""
    kept = tuple((k, v) for k, v in request.headers if k.lower() not in NAMES)
    return request if len(kept) == len(request.headers) else replace(request, headers=kept)


def active_secrets(
    enabled: bool,
    current: str | None,
    previous: str | None,
    previous_until: datetime | None,
    now: datetime,
) -> tuple[str, ...]:
    """Which secrets sign at ``now``: none when signing is off; the current one, and the
    rotated-out one while its overlap lasts."""
    if not enabled or not current:
        return ()
    if previous and previous_until is not None and now < previous_until:
        return (current, previous)
    return (current,)
