"""Conversions between table rows and domain records; ids; cursors. Pure."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Row

from postback.config import Network
from postback.domain.records import (
    Account,
    AccountKind,
    Attempt,
    BodyFormat,
    Delivery,
    DeliveryStatus,
    Event,
    EventTopic,
    EventTrigger,
    EventType,
    HttpMethod,
    MediaSource,
    PartnerType,
    Postback,
    PostbackConfig,
    PostbackKind,
    Program,
    RenderedRequest,
    Reply,
)
from postback.errors import ValidationProblem

Pairs = tuple[tuple[str, str], ...]


class _Entropy:
    """The operating system's random bytes, read 4 KiB at a time: one system call per
    680 ids instead of one per id (a batch of 100 events makes 300). A forked child
    starts afresh, or it would hand out its parent's bytes again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes, self._at = b"", 0

    def hex(self, n: int) -> str:
        with self._lock:
            if self._at + n > len(self._bytes):
                self._bytes, self._at = os.urandom(4096), 0
            start = self._at
            self._at += n
            return self._bytes[start : self._at].hex()

    def forget(self) -> None:
        # A new lock: the fork may have happened while another thread held the old one.
        self._lock = threading.Lock()
        self._bytes, self._at = b"", 0


_ENTROPY = _Entropy()
os.register_at_fork(after_in_child=_ENTROPY.forget)


def new_id(prefix: str) -> str:
    """A short, roughly time-ordered, unguessable id such as ``dlv_0199a0c1f2e3a1b2c3d4e5f6``."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{_ENTROPY.hex(6)}"


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dump(value: object) -> str:
    """JSON text for a column (dates and decimals as strings)."""
    return _ENCODER.encode(value)


# One encoder for every dump: json.dumps with options builds a new one for each call.
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"))


def dump_pairs(pairs: Pairs) -> str:
    return dump([list(p) for p in pairs]) if pairs else "[]"


def load_pairs(text: str | None) -> Pairs:
    if not text or text == "[]":
        return ()
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        kind=AccountKind(row.kind),
        partner_type=PartnerType(row.partner_type) if row.partner_type else None,
        created_at=row.created_at,
        allowed_networks=networks(row.allowed_networks),
    )


def networks(text: str | None) -> tuple[Network, ...]:
    """An account's allowed networks as stored (CIDRs separated by commas)."""
    return tuple(ipaddress.ip_network(n) for n in (text or "").split(",") if n)


def networks_text(nets: Sequence[Network]) -> str | None:
    return ",".join(str(n) for n in nets) or None


def program(row: Row[Any]) -> Program:
    return Program(id=row.id, brand_id=row.brand_id, name=row.name)


def event_type(row: Row[Any]) -> EventType:
    return EventType(id=row.id, program_id=row.program_id, name=row.name, category=row.category)


def media_source(row: Row[Any]) -> MediaSource:
    return MediaSource(id=row.id, brand_id=row.brand_id, name=row.name)


def _same(value: Any) -> Any:
    return value


def config_values(config: PostbackConfig) -> dict[str, Any]:
    """The postbacks columns that hold a :class:`PostbackConfig` (one column per field)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(PostbackConfig):
        value = getattr(config, f.name)
        if f.name == "headers":
            value = dump_pairs(value)
        elif isinstance(value, Enum):
            value = value.value
        out[f.name] = value
    return out


def _optional(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: kind(value) if value else None


# How a column is read back into its PostbackConfig field; the rest are taken as they are.
_READ: dict[str, Callable[[Any], Any]] = {
    "kind": PostbackKind,
    "method": HttpMethod,
    "body_format": _optional(BodyFormat),
    "headers": load_pairs,
    "enabled": bool,
    "include_installs": bool,
    "include_locking": bool,
    "trigger": _optional(EventTrigger),
    "signing_enabled": bool,
}


def postback(row: Row[Any]) -> Postback:
    config = PostbackConfig(
        **{
            f.name: _READ.get(f.name, _same)(getattr(row, f.name))
            for f in dataclasses.fields(PostbackConfig)
        }
    )
    return Postback(
        id=row.id,
        owner_id=row.owner_id,
        config=config,
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        version=row.version,
    )


def event(row: Row[Any]) -> Event:
    return Event(
        id=row.id,
        type=EventTopic(row.type),
        occurred_at=row.occurred_at,
        data=json.loads(row.data),
        received_at=row.received_at,
    )


def request(row: Row[Any]) -> RenderedRequest:
    """The stored request of a deliveries row."""
    return RenderedRequest(
        method=HttpMethod(row.method),
        url=row.url,
        headers=load_pairs(row.headers),
        body=row.body,
    )


def delivery(row: Row[Any], attempts: tuple[Attempt, ...] = ()) -> Delivery:
    return Delivery(
        id=row.id,
        postback_id=row.postback_id,
        owner_id=row.owner_id,
        event_id=row.event_id,
        event_occurred_at=row.event_occurred_at,
        request=request(row),
        status=DeliveryStatus.SENDING if row.lease_owner else DeliveryStatus(row.status),
        due_at=row.due_at,
        order_key=row.order_key,
        action_id=row.action_id,
        attempt_count=row.attempt_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_error=row.last_error,
        attempts=attempts,
        postback_version=row.postback_version,
        original_id=row.original_id,
    )


def attempt_values(item: Attempt, same_as_delivery: bool = False) -> dict[str, Any]:
    """The attempts columns for one attempt; with ``same_as_delivery`` its method, URL
    and body are left null, meaning "the delivery's" (see :func:`attempt`)."""
    reply = item.reply
    req = item.request
    return {
        "delivery_id": item.delivery_id,
        "number": item.number,
        "started_at": item.started_at,
        "duration_ms": item.duration_ms,
        "request_method": None if same_as_delivery else req.method.value,
        "request_url": None if same_as_delivery else req.url,
        "request_headers": dump_pairs(req.headers),
        "request_body": None if same_as_delivery else req.body,
        "reply_status": reply.status if reply else None,
        "reply_headers": dump_pairs(reply.headers) if reply else None,
        "reply_body": reply.body if reply else None,
        "reply_truncated": reply.truncated if reply else False,
        "outcome": item.outcome,
        "error": item.error,
        "postback_version": item.postback_version,
    }


def attempt(row: Row[Any], base: RenderedRequest | None = None) -> Attempt:
    """An attempts row; one that holds no URL sent the delivery's request, ``base``
    (redacted), with the headers it stored."""
    reply = None
    if row.reply_status is not None:
        reply = Reply(
            status=row.reply_status,
            headers=load_pairs(row.reply_headers),
            body=bytes(row.reply_body or b""),
            truncated=bool(row.reply_truncated),
        )
    return Attempt(
        delivery_id=row.delivery_id,
        number=row.number,
        started_at=row.started_at,
        duration_ms=row.duration_ms,
        request=_attempt_request(row, base),
        reply=reply,
        outcome=row.outcome,
        error=row.error,
        postback_version=row.postback_version,
    )


def _attempt_request(row: Row[Any], base: RenderedRequest | None) -> RenderedRequest:
    headers = load_pairs(row.request_headers)
    if row.request_url is None and base is not None:
        return RenderedRequest(method=base.method, url=base.url, headers=headers, body=base.body)
    return RenderedRequest(
        method=HttpMethod(row.request_method or "GET"),
        url=row.request_url or "",
        headers=headers,
        body=row.request_body,
    )


def encode_cursor(created_at: datetime, seq: int) -> str:
    """An opaque keyset cursor: the (created_at, seq) of the last item shown."""
    raw = f"{created_at.isoformat()}|{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of :func:`encode_cursor`; a damaged cursor is a validation problem."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, number = raw.split("|")
        moment, seq = datetime.fromisoformat(stamp), int(number)
        if moment.tzinfo is None or not 0 <= seq < 2**63:
            raise ValueError(cursor)
        # A time no database column holds (year 1 at +14:00 is year 0 in UTC) is as
        # damaged as any other cursor this server never gave out.
        if not 1900 <= moment.astimezone(UTC).year <= 9000:
            raise ValueError(cursor)
        return moment, seq
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None


def encode_name_cursor(key: str, row_id: str) -> str:
    """An opaque keyset cursor for a list in name order: the (sort key, id) of the last
    item shown (ids hold no ``|``; a name may)."""
    return base64.urlsafe_b64encode(f"{row_id}|{key}".encode()).decode().rstrip("=")


def decode_name_cursor(cursor: str) -> tuple[str, str]:
    """Inverse of :func:`encode_name_cursor`; a damaged cursor is a validation problem."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        row_id, key = raw.split("|", 1)
        if not row_id or "\x00" in raw:  # no database text holds U+0000
            raise ValueError(cursor)
        return key, row_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad_cursor() from None


def _bad_cursor() -> ValidationProblem:
    return ValidationProblem(
        [
            {
                "field": "cursor",
                "code": "invalid",
                "position": None,
                "message": "the cursor is not one this server gave out; start again without it",
            }
        ]
    )
