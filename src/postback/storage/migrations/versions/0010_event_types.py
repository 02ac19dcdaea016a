"""The table ``action_trackers`` becomes ``event_types``, its index and constraints too.

The API and the code call a program's kind of action an event type.

Rows keep their ids: those starting ``evt_`` stay valid beside the new ``et_`` ones.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: Each name this revision changes, under ``{table}``: the old table's, then the new's.
CONSTRAINTS = ("pk_{table}", "fk_{table}_program_id_programs")
INDEX = "ix_{table}_program_id"
CONTRACT_FK = "fk_contract_event_types_event_type_id_{table}"


def upgrade() -> None:
    _rename("action_trackers", "event_types")


def downgrade() -> None:
    _rename("event_types", "action_trackers")


def _rename(old: str, new: str) -> None:
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        _rename_names_postgresql(old, new)
    else:
        _rename_names_sqlite(old, new)


def _rename_names_postgresql(old: str, new: str) -> None:
    for name in CONSTRAINTS:
        op.execute(
            f"ALTER TABLE {new} RENAME CONSTRAINT {name.format(table=old)} "
            f"TO {name.format(table=new)}"
        )
    op.execute(f"ALTER INDEX {INDEX.format(table=old)} RENAME TO {INDEX.format(table=new)}")
    op.execute(
        f"ALTER TABLE contract_event_types RENAME CONSTRAINT {CONTRACT_FK.format(table=old)} "
        f"TO {CONTRACT_FK.format(table=new)}"
    )


def _rename_names_sqlite(old: str, new: str) -> None:
    # SQLite names constraints only in a table's CREATE text, so the tables are rebuilt;
    # the contracts' foreign key is dropped meanwhile, as rebuilding the table it points
    # at would fail it (foreign keys cannot be switched off inside the migration's
    # transaction).
    pk, fk = CONSTRAINTS
    with op.batch_alter_table("contract_event_types", recreate="always") as batch:
        batch.drop_constraint(CONTRACT_FK.format(table=old), type_="foreignkey")
    with op.batch_alter_table(new, recreate="always") as batch:
        batch.drop_constraint(fk.format(table=old), type_="foreignkey")
        batch.create_foreign_key(fk.format(table=new), "programs", ["program_id"], ["id"])
        batch.drop_constraint(pk.format(table=old), type_="primary")
        batch.create_primary_key(pk.format(table=new), ["id"])
        batch.drop_index(INDEX.format(table=old))
        batch.create_index(INDEX.format(table=new), ["program_id"])
    with op.batch_alter_table("contract_event_types", recreate="always") as batch:
        batch.create_foreign_key(CONTRACT_FK.format(table=new), new, ["event_type_id"], ["id"])
