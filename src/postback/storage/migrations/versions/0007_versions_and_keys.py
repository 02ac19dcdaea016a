"""Postback versions, requests logged once per delivery, and managed API keys.

* ``postbacks.version`` counts changes; ``deliveries.postback_version`` is the version
  a delivery's stored request was rendered with, so a worker re-renders one whose
  postback has changed since; ``attempts.postback_version`` is the version an attempt
  used.
* An attempt's ``request_method``, ``request_url`` and ``request_body`` are null when
  they are the delivery's (redacted), so a retry does not copy a large body again.
* API keys get an id (to list and revoke them), a prefix to recognise them by, when
  they were last used and when they were revoked. Keys stored before have no prefix;
  their id is derived from their hash.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postbacks") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("postback_version", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("postback_version", sa.Integer(), nullable=True))
        batch.alter_column("request_method", existing_type=sa.String(8), nullable=True)
        batch.alter_column("request_url", existing_type=sa.Text(), nullable=True)
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("prefix", sa.String(16), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE api_keys SET id = 'key_' || substr(key_hash, 1, 24) WHERE id IS NULL")
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("id", existing_type=sa.String(40), nullable=False)
        batch.create_index("ix_api_keys_id", ["id"], unique=True)


def downgrade() -> None:
    op.execute("DELETE FROM attempts WHERE request_url IS NULL")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_id")
        batch.drop_column("revoked_at")
        batch.drop_column("last_used_at")
        batch.drop_column("prefix")
        batch.drop_column("id")
    with op.batch_alter_table("attempts") as batch:
        batch.alter_column("request_url", existing_type=sa.Text(), nullable=False)
        batch.alter_column("request_method", existing_type=sa.String(8), nullable=False)
        batch.drop_column("postback_version")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("postback_version")
    with op.batch_alter_table("postbacks") as batch:
        batch.drop_column("version")
