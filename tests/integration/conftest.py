"""Fixtures for the integration tests: a migrated store and a running API on SQLite and
on PostgreSQL; a SQLite database with a worker for the command-line tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from postback.storage import open_store
from postback.storage.sql_store import SQLStore
from tests.apiclient import Api, running_api
from tests.e2e.rig import Rig, rig


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SQLStore]:
    """A migrated store, closed after the test."""
    opened = open_store(database_url)
    assert isinstance(opened, SQLStore)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """The API in process on each database, refusing bodies over 64 KiB."""
    async with running_api(database_url, max_body_bytes=64 * 1024) as client:
        yield client


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The SQLite database the command-line tests run ``postback`` on."""
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[Rig]:
    """The migrated database, a cashback partner, and a worker delivering its postbacks."""
    async with rig(db_url) as r:
        yield r
