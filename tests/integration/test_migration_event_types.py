"""Migration 0010 renames action_trackers to event_types, names and rows with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, inspect

from postback.storage.sql import metadata
from postback.storage.sql_store import SQLStore

AT = "'2026-01-01 00:00:00+00'"


def _names(conn: Connection, table: str) -> dict[str, Any]:
    """The names a table's primary key, foreign keys and indexes carry in the database."""
    found = inspect(conn)
    return {
        "pk": found.get_pk_constraint(table)["name"],
        "fks": sorted(
            (str(fk["name"]), fk["referred_table"], fk["options"].get("ondelete"))
            for fk in found.get_foreign_keys(table)
        ),
        "indexes": sorted(str(ix["name"]) for ix in found.get_indexes(table)),
    }


def _declared(table: str) -> dict[str, Any]:
    """The same names as the code declares them."""
    declared = metadata.tables[table]
    return {
        "pk": declared.primary_key.name,
        "fks": sorted(
            (str(fk.name), fk.referred_table.name, fk.ondelete)
            for fk in declared.foreign_key_constraints
        ),
        "indexes": sorted(str(ix.name) for ix in declared.indexes),
    }


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _rows_before_0010(conn: Connection) -> None:
    """A program with an event type stored the way revision 0009 stored it, in a contract."""
    for account, kind in (("brand", "brand"), ("partner", "partner")):
        conn.exec_driver_sql(
            f"INSERT INTO accounts (id, name, kind, created_at) "
            f"VALUES ('{account}', '{account}', '{kind}', {AT})"
        )
    conn.exec_driver_sql(
        f"INSERT INTO programs (id, brand_id, name, created_at) VALUES ('prg', 'brand', 'P', {AT})"
    )
    conn.exec_driver_sql(
        "INSERT INTO action_trackers (id, program_id, name, category, created_at) "
        f"VALUES ('evt_old', 'prg', 'Online sale', 'sale', {AT})"
    )
    conn.exec_driver_sql(
        "INSERT INTO contracts (id, partner_id, program_id, created_at) "
        f"VALUES ('ctr', 'partner', 'prg', {AT})"
    )
    conn.exec_driver_sql(
        "INSERT INTO contract_event_types (contract_id, event_type_id) VALUES ('ctr', 'evt_old')"
    )


async def test_0010_renames_the_table_and_every_name_it_gave(store: SQLStore) -> None:
    async with store.engine.connect() as conn:
        assert "action_trackers" not in await conn.run_sync(_tables)
        for table in ("event_types", "contract_event_types"):
            assert await conn.run_sync(_names, table) == _declared(table)
    await store.downgrade("0009")
    async with store.engine.connect() as conn:
        assert "event_types" not in await conn.run_sync(_tables)
        old = await conn.run_sync(_names, "action_trackers")
        assert old == {
            "pk": "pk_action_trackers",
            "fks": [("fk_action_trackers_program_id_programs", "programs", None)],
            "indexes": ["ix_action_trackers_program_id"],
        }
        contract = await conn.run_sync(_names, "contract_event_types")
        assert contract["fks"] == [
            ("fk_contract_event_types_contract_id_contracts", "contracts", "CASCADE"),
            ("fk_contract_event_types_event_type_id_action_trackers", "action_trackers", None),
        ]


async def test_0010_keeps_old_ids_working_and_gives_new_ones_et(store: SQLStore) -> None:
    await store.downgrade("0009")
    async with store.engine.begin() as conn:
        await conn.run_sync(_rows_before_0010)
    await store.migrate()
    old = await store.get_event_type("evt_old")
    assert (old.program_id, old.name, old.category) == ("prg", "Online sale", "sale")
    contract = await store.find_contract("partner", "prg")
    assert contract is not None and contract.event_type_ids == ("evt_old",)
    new = await store.create_event_type("prg", "Lead", "lead")
    assert new.id.startswith("et_")
    assert [t.id for t in await store.list_event_types("brand")] == ["evt_old", new.id]
