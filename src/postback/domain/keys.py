"""API keys: random, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

PREFIX = "pbk_"
SHOWN = 12  # characters of a key kept to recognise it by: "pbk_" and 8 random ones
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


def new_key() -> str:
    """A fresh key with 256 bits of randomness."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 is enough: keys are random, not passwords, so no stretching is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def prefix(key: str) -> str:
    """What a listing shows of a key: enough to tell keys apart, far too little to use."""
    return key[:SHOWN]


def worth_noting(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a use at ``now`` should be written (at most once a minute per key)."""
    return last_used_at is None or now - last_used_at >= TOUCH_EVERY
