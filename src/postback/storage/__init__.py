"""Storage: the directory and the queue interfaces, SQLite and PostgreSQL adapters."""

from __future__ import annotations

from postback.errors import ConfigError
from postback.storage.interfaces import Store

__all__ = ["Store", "open_store"]


def open_store(url: str, *, synchronous_commit: bool = True) -> Store:
    """The store for a database URL: ``sqlite:///path/to/file.db`` (``sqlite:///:memory:``
    too) or ``postgresql://user@host/db`` (``postgres://`` is accepted).

    ``synchronous_commit=False``: on PostgreSQL, the workers' completions do not wait
    for their WAL to reach the disk (see :mod:`~postback.storage.postgresql`)."""
    if url.startswith("sqlite://"):
        from postback.storage.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://").removeprefix("/")
        return SQLiteStore(path or ":memory:")
    if url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        from postback.storage.postgresql import PostgresStore

        return PostgresStore(url, synchronous_commit=synchronous_commit)
    raise ConfigError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db "
        "or postgresql://user@host/db"
    )
