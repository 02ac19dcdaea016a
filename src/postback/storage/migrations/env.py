"""Alembic environment: online only, on a connection our own code hands over.

That code is :mod:`postback.storage.migrate` (``Store.migrate()`` / ``postback migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from postback.storage.sql import metadata

#: Any constant shared by every process: concurrent migrations wait for each other.
PG_LOCK_KEY = 7_031_982_214


def run(connection: Connection) -> None:
    """Run the pending migrations in one transaction."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if context.is_offline_mode() or _connection is None:
    raise RuntimeError(
        "run migrations with `postback migrate` or Store.migrate(), not the alembic command"
    )
run(_connection)
