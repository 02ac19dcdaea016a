"""The packaged migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from postback.domain import keys
from postback.storage.sql import metadata
from postback.storage.sql_store import SQLStore


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


def _old_sending_rows(conn: Connection) -> None:
    """Two deliveries stored as 'sending' the way revision 0001 stored a lease."""
    conn.exec_driver_sql(
        "INSERT INTO events (id, type, occurred_at, data, received_at, deliveries_created) "
        "VALUES ('ev1', 'action.tracked', '2026-01-01 00:00:00+00', '{}', "
        "'2026-01-01 00:00:00+00', 2)"
    )
    for n, round_attempts in ((1, 0), (2, 3)):
        conn.exec_driver_sql(
            "INSERT INTO deliveries (seq, id, postback_id, owner_id, event_id, "
            "event_occurred_at, method, url, headers, status, due_at, order_key, "
            "attempt_count, round_attempts, lease_owner, lease_until, created_at, "
            f"updated_at) VALUES ({n}, 'dlv{n}', 'pb', 'acc', 'ev1', "
            "'2026-01-01 00:00:00+00', 'GET', 'http://x/', '[]', 'sending', "
            f"'2026-01-01 00:00:00+00', 'k{n}', {round_attempts}, {round_attempts}, "
            "'w1', '2026-01-01 00:01:00+00', '2026-01-01 00:00:00+00', "
            "'2026-01-01 00:00:00+00')"
        )


async def test_0002_turns_stored_sending_into_a_lease_on_a_waiting_row(store: SQLStore) -> None:
    await store.downgrade("0001")
    async with store.engine.begin() as conn:
        await conn.run_sync(_old_sending_rows)
    await store.migrate()
    async with store.engine.connect() as conn:
        found = await conn.exec_driver_sql(
            "SELECT id, status, lease_owner FROM deliveries ORDER BY id"
        )
        assert [tuple(r) for r in found] == [
            ("dlv1", "scheduled", "w1"),
            ("dlv2", "retrying", "w1"),
        ]
    first = await store.get_delivery("dlv1", None)
    assert first.status.value == "sending"  # still leased: read as being sent


async def test_0002_leaves_room_for_hot_leases_on_postgresql(store: SQLStore) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("fillfactor is a PostgreSQL storage option")
    async with store.engine.connect() as conn:
        found = await conn.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE relname = 'deliveries'"
        )
        assert found.scalar() == ["fillfactor=50"]
    await store.downgrade("0001")
    async with store.engine.connect() as conn:
        found = await conn.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE relname = 'deliveries'"
        )
        assert found.scalar() is None


async def test_0012_adds_the_link_to_an_original_and_keeps_every_delivery(
    store: SQLStore,
) -> None:
    module = importlib.import_module("postback.storage.migrations.versions.0012_resend_as_sent")
    await store.downgrade(module.down_revision)
    async with store.engine.begin() as conn:
        await conn.run_sync(_old_sending_rows)
    await store.migrate()
    for delivery_id in ("dlv1", "dlv2"):
        assert (await store.get_delivery(delivery_id, None)).original_id is None
    await store.downgrade(module.down_revision)
    async with store.engine.connect() as conn:
        found = await conn.exec_driver_sql("SELECT id FROM deliveries ORDER BY id")
        assert [r[0] for r in found] == ["dlv1", "dlv2"]


def _postbacks_before_0006(conn: Connection) -> None:
    """A partner integration, and a postback the system disabled the way it did before
    0006 (a reason, but still stored enabled)."""
    conn.exec_driver_sql(
        "INSERT INTO accounts (id, name, kind, created_at) "
        "VALUES ('acc', 'B', 'brand', '2026-01-01 00:00:00+00')"
    )
    for pid, kind, reason in (
        ("pb_int", "partner_integration", None),
        ("pb_off", "action_lifecycle", "every delivery attempt failed"),
    ):
        conn.exec_driver_sql(
            "INSERT INTO postbacks (id, owner_id, kind, name, url, method, headers, "
            "min_delay_seconds, enabled, include_installs, include_locking, created_at, "
            f"updated_at, disabled_reason) VALUES ('{pid}', 'acc', '{kind}', '', "
            "'https://p.example/', 'GET', '[]', 0, true, false, false, "
            "'2026-01-01 00:00:00+00', '2026-01-02 00:00:00+00', "
            f"{'NULL' if reason is None else repr(reason)})"
        )


async def test_0006_sets_the_trigger_and_reads_system_disabled_postbacks_as_off(
    store: SQLStore,
) -> None:
    module = importlib.import_module("postback.storage.migrations.versions.0006_trigger_replays")
    await store.downgrade(module.down_revision)
    async with store.engine.begin() as conn:
        await conn.run_sync(_postbacks_before_0006)
    await store.migrate()
    integration = await store.get_postback("pb_int", None)
    assert integration.config.trigger == "always"
    assert integration.config.enabled and integration.disabled_at is None
    off = await store.get_postback("pb_off", None)
    assert off.config.trigger is None
    assert not off.config.enabled
    assert off.disabled_at == off.updated_at


def _old_key_and_attempt(conn: Connection) -> None:
    """An API key and an attempt stored the way revision 0003 stored them."""
    conn.exec_driver_sql(
        "INSERT INTO accounts (id, name, kind, created_at) "
        "VALUES ('acc1', 'B', 'brand', '2026-01-01 00:00:00+00')"
    )
    conn.exec_driver_sql(
        "INSERT INTO api_keys (key_hash, account_id, created_at) "
        f"VALUES ('{keys.hash_key('pbk_old')}', 'acc1', '2026-01-01 00:00:00+00')"
    )


async def test_0007_gives_old_keys_an_id_and_keeps_them_working(store: SQLStore) -> None:
    await store.downgrade("0003")
    async with store.engine.begin() as conn:
        await conn.run_sync(_old_key_and_attempt)
    await store.migrate()
    found = await store.find_api_key(keys.hash_key("pbk_old"))
    assert found is not None
    account, key = found
    assert account.id == "acc1"
    assert key.id == "key_" + keys.hash_key("pbk_old")[:24]
    assert key.prefix is None and key.revoked_at is None
    revoked = await store.revoke_api_key("acc1", key.id)
    assert revoked.revoked_at is not None
    assert await store.find_api_key(keys.hash_key("pbk_old")) is None
