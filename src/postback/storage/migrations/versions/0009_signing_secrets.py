"""Postbacks sign their requests (Standard Webhooks); attempts indexed for retention.

Each postback gets a secret and a switch; attempts are indexed by start time. Existing
postbacks get a fresh secret here, so every postback has one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from postback.delivery.signing import new_secret

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postbacks") as batch:
        batch.add_column(
            sa.Column("signing_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("signing_secret", sa.Text(), nullable=True))
        batch.add_column(sa.Column("previous_signing_secret", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )
    conn = op.get_bind()
    table = sa.table("postbacks", sa.column("id", sa.String), sa.column("signing_secret", sa.Text))
    ids = [row.id for row in conn.execute(sa.select(table.c.id))]
    for postback_id in ids:  # one secret each: no two postbacks share one
        conn.execute(
            sa.update(table).where(table.c.id == postback_id).values(signing_secret=new_secret())
        )
    with op.batch_alter_table("postbacks") as batch:
        batch.alter_column("signing_secret", existing_type=sa.Text(), nullable=False)
    # Retention deletes attempts by age.
    op.create_index("ix_attempts_started_at", "attempts", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_attempts_started_at", table_name="attempts")
    with op.batch_alter_table("postbacks") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_signing_secret")
        batch.drop_column("signing_secret")
        batch.drop_column("signing_enabled")
