"""API keys: random, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "pbk_"


def new_key() -> str:
    """A fresh key with 256 bits of randomness."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 is enough: keys are random, not passwords, so no stretching is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
