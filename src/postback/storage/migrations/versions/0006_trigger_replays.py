"""Partner integration triggers, when the system disabled a postback, and replays.

* ``postbacks.trigger``: a partner integration's Event Trigger (``always``).
* ``postbacks.disabled_at``: set with ``disabled_reason``; a system-disabled postback is
  also stored ``enabled = false`` now, so it reads as disabled.
* ``replays`` and ``deliveries.replay_id``: a replay's deliveries, to count its progress.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postbacks") as batch:
        batch.add_column(sa.Column("trigger", sa.String(16), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE postbacks SET trigger = 'always' WHERE kind = 'partner_integration'")
    op.execute(
        "UPDATE postbacks SET enabled = false, disabled_at = updated_at "
        "WHERE disabled_reason IS NOT NULL"
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("replay_id", sa.String(40), nullable=True))
    # Partial: deliveries never replayed (most) are not in it, so ingest does not pay.
    present = sa.text("replay_id IS NOT NULL")
    op.create_index(
        "ix_deliveries_replay",
        "deliveries",
        ["replay_id"],
        postgresql_where=present,
        sqlite_where=present,
    )
    op.create_table(
        "replays",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("owner_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_replays"),
    )


def downgrade() -> None:
    op.drop_table("replays")
    op.drop_index("ix_deliveries_replay", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("replay_id")
    with op.batch_alter_table("postbacks") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("trigger")
