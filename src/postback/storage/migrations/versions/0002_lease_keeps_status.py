"""A lease no longer changes a delivery's stored status; deliveries keep room for it.

"Sending" is read off the lease (``lease_owner`` set) instead of being stored, so that
leasing a row writes only unindexed columns. On PostgreSQL that makes the lease a HOT
update, which needs free space on the row's page: the table keeps half of each new
page free (``fillfactor = 50``: a claim leases rows a page at a time, so a page needs
room for a second version of each of its rows; pages written before keep their fill).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FILLFACTOR = 50


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    # A row stored as 'sending' was scheduled or retrying when it was leased; its
    # lease columns stay, so it still reads as being sent until the lease ends.
    op.execute(
        "UPDATE deliveries SET status = CASE WHEN round_attempts > 0 THEN 'retrying' "
        "ELSE 'scheduled' END WHERE status = 'sending'"
    )
    if _postgresql():
        op.execute(f"ALTER TABLE deliveries SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    op.execute(
        "UPDATE deliveries SET status = 'sending' "
        "WHERE lease_owner IS NOT NULL AND status IN ('scheduled', 'retrying')"
    )
    if _postgresql():
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
