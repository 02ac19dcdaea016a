"""Deliveries carry their destination (``scheme://host:port`` of the URL), indexed for
the open ones, so a worker whose circuit breaker for a destination is open can push its
due deliveries back in one statement.

Existing rows get it here: on SQLite by the very function the code uses (registered on
the connection), on PostgreSQL by the same rules in SQL (tested against the function).

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postback.delivery.breaker import destination

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN_STATUSES = ("scheduled", "retrying", "sending")

# destination() in SQL: scheme, "://", then the authority (cut at the first / ? or #,
# user info up to the last @ dropped), lower-cased.
PG_FILL = (
    "UPDATE deliveries SET destination = CASE WHEN strpos(url, '://') > 0 "
    "THEN lower(split_part(url, '://', 1) || '://' || regexp_replace("
    "split_part(split_part(split_part(substr(url, strpos(url, '://') + 3), '/', 1), "
    "'?', 1), '#', 1), '^.*@', '')) "
    "ELSE lower(url) || '://' END WHERE destination IS NULL"
)


def fill(conn: sa.Connection) -> None:
    """Set the destination of every delivery stored without one."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(PG_FILL)
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.create_function("postback_destination", 1, destination, deterministic=True)
    conn.exec_driver_sql(
        "UPDATE deliveries SET destination = postback_destination(url) WHERE destination IS NULL"
    )


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("destination", sa.Text(), nullable=True))
    fill(op.get_bind())
    op.create_index(
        "ix_deliveries_destination",
        "deliveries",
        ["destination", "due_at", "seq"],
        postgresql_where=sa.column("status").in_(OPEN_STATUSES),
        sqlite_where=sa.column("status").in_(OPEN_STATUSES),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_destination", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("destination")
