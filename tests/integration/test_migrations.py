"""The packaged migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from postback.storage.common import SQLStore
from postback.storage.sql import metadata


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migrated_schema_matches_the_metadata(store: SQLStore) -> None:
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
        assert await conn.run_sync(_tables) == set(metadata.tables) | {"alembic_version"}


async def test_migrate_twice_is_harmless(store: SQLStore) -> None:
    await store.migrate()
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []


async def test_downgrade_to_base_and_up_again(store: SQLStore) -> None:
    await store.downgrade("base")
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_tables) <= {"alembic_version"}
    await store.migrate()
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
