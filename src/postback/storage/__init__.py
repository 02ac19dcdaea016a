"""Storage: one :class:`Store` interface, SQLite and PostgreSQL adapters."""

from __future__ import annotations

from postback.storage.base import Store

__all__ = ["Store"]
