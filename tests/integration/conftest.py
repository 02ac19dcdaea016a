"""Fixtures for the store tests: a migrated store on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from postback.storage import open_store
from postback.storage.sql_store import SQLStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each kind; PostgreSQL gets a fresh database per test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'postback.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SQLStore]:
    """A migrated store, closed after the test."""
    opened = open_store(store_url)
    assert isinstance(opened, SQLStore)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()
