"""Shared fixtures: a PostgreSQL database of this run's own, created and dropped here; a
database URL of each kind; a receiver on loopback."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.receiver import Receiver, receiver

PG_ADMIN_DSN = os.environ.get("POSTBACK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin_async(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    """Run one admin statement on a loop of its own, in a thread, so that it also works
    when called from inside a running event loop (an async fixture)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result()


def _pg_reachable() -> bool:
    try:
        _admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin DSN; skips locally, fails under CI=true, when PostgreSQL is down."""
    if not _pg_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"PostgreSQL is required under CI=true and is not reachable at {PG_ADMIN_DSN}"
            )
        pytest.skip("PostgreSQL is not reachable")
    return PG_ADMIN_DSN


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"postback_t_{os.getpid()}_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each kind: a new SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'postback.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def rec() -> AsyncIterator[Receiver]:
    """A scripted HTTP receiver on loopback."""
    async with receiver() as r:
        yield r
