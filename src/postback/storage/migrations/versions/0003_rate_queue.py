"""Rate-limited postbacks remember where their queue of waiting deliveries ends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postback_rate") as batch:
        batch.add_column(sa.Column("queued_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("postback_rate") as batch:
        batch.drop_column("queued_until")
