"""Initial schema: accounts, catalogue of programs, postbacks, events, deliveries, attempts.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN_STATUSES = ("scheduled", "retrying", "sending")


def _id(name: str = "id", **kw: object) -> sa.Column[str]:
    return sa.Column(name, sa.String(40), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _big() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(col: str, table: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [col],
        [target],
        name=f"fk_{table}_{col}_{target.split('.', maxsplit=1)[0]}",
        ondelete=ondelete,
    )


def _directory() -> None:
    op.create_table(
        "accounts",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("partner_type", sa.String(16)),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.String(128), nullable=False),
        _id("account_id", nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("key_hash", name="pk_api_keys"),
        _fk("account_id", "api_keys", "accounts.id", "CASCADE"),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    op.create_table(
        "programs",
        _id(),
        _id("brand_id", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_programs"),
        _fk("brand_id", "programs", "accounts.id"),
    )
    op.create_index("ix_programs_brand_id", "programs", ["brand_id"])
    op.create_table(
        "action_trackers",
        _id(),
        _id("program_id", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_action_trackers"),
        _fk("program_id", "action_trackers", "programs.id"),
    )
    op.create_index("ix_action_trackers_program_id", "action_trackers", ["program_id"])
    op.create_table(
        "contracts",
        _id(),
        _id("partner_id", nullable=False),
        _id("program_id", nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_contracts"),
        sa.UniqueConstraint("partner_id", "program_id", name="uq_contracts_partner_id_program_id"),
        _fk("partner_id", "contracts", "accounts.id"),
        _fk("program_id", "contracts", "programs.id"),
    )
    op.create_index("ix_contracts_program_id", "contracts", ["program_id"])
    op.create_table(
        "contract_event_types",
        _id("contract_id", nullable=False),
        _id("event_type_id", nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "event_type_id", name="pk_contract_event_types"),
        _fk("contract_id", "contract_event_types", "contracts.id", "CASCADE"),
        _fk("event_type_id", "contract_event_types", "action_trackers.id"),
    )
    op.create_index(
        "ix_contract_event_types_event_type_id", "contract_event_types", ["event_type_id"]
    )
    op.create_table(
        "media_sources",
        _id(),
        _id("brand_id", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_media_sources"),
        _fk("brand_id", "media_sources", "accounts.id"),
    )
    op.create_index("ix_media_sources_brand_id", "media_sources", ["brand_id"])


def _postbacks() -> None:
    op.create_table(
        "postbacks",
        _id(),
        _id("owner_id", nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("body", sa.Text()),
        sa.Column("body_format", sa.String(16)),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("min_delay_seconds", sa.Integer(), nullable=False),
        sa.Column("max_requests_per_second", sa.Float()),
        sa.Column("success_response", sa.Text()),
        sa.Column("error_response", sa.Text()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _id("partner_id"),
        _id("event_type_id"),
        _id("media_source_id"),
        sa.Column("include_installs", sa.Boolean(), nullable=False),
        sa.Column("in_app_event", sa.Text()),
        sa.Column("include_locking", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("disabled_reason", sa.Text()),
        _ts("last_success_at", nullable=True),
        _ts("failing_since", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_postbacks"),
        _fk("owner_id", "postbacks", "accounts.id"),
    )
    op.create_index("ix_postbacks_owner_id_kind", "postbacks", ["owner_id", "kind"])
    op.create_index(
        "ix_postbacks_partner_id_event_type_id", "postbacks", ["partner_id", "event_type_id"]
    )
    op.create_index(
        "ix_postbacks_media_source_id_event_type_id",
        "postbacks",
        ["media_source_id", "event_type_id"],
    )
    op.create_table(
        "postback_rate",
        _id("postback_id", nullable=False),
        _ts("tat"),
        sa.PrimaryKeyConstraint("postback_id", name="pk_postback_rate"),
        _fk("postback_id", "postback_rate", "postbacks.id", "CASCADE"),
    )


def _events() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        _ts("occurred_at"),
        sa.Column("data", sa.Text(), nullable=False),
        _ts("received_at"),
        sa.Column("deliveries_created", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )


def _deliveries() -> None:
    op.create_table(
        "deliveries",
        _id(),
        sa.Column("seq", _big(), sa.Identity(), nullable=False),
        _id("postback_id", nullable=False),
        _id("owner_id", nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        _ts("event_occurred_at"),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("due_at"),
        sa.Column("order_key", sa.Text(), nullable=False),
        sa.Column("action_id", sa.Text()),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("round_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.Text()),
        _ts("lease_until", nullable=True),
        sa.Column("last_error", sa.Text()),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("seq", name="uq_deliveries_seq"),
        _fk("event_id", "deliveries", "events.id"),
    )
    where = sa.column("status").in_(OPEN_STATUSES)
    op.create_index(
        "ix_deliveries_claim",
        "deliveries",
        ["due_at", "seq"],
        postgresql_where=where,
        sqlite_where=where,
    )
    op.create_index(
        "ix_deliveries_order",
        "deliveries",
        ["postback_id", "order_key", "event_occurred_at", "seq"],
    )
    op.create_index("ix_deliveries_owner", "deliveries", ["owner_id", "created_at", "seq"])
    op.create_index("ix_deliveries_postback", "deliveries", ["postback_id", "created_at"])
    op.create_index("ix_deliveries_action", "deliveries", ["action_id"])
    op.create_index("ix_deliveries_created", "deliveries", ["created_at", "seq"])
    op.create_index("ix_deliveries_event", "deliveries", ["event_id"])


def _log() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", _big(), autoincrement=True, nullable=False),
        _id("delivery_id", nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _ts("started_at"),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("request_method", sa.String(8), nullable=False),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("request_headers", sa.Text(), nullable=False),
        sa.Column("request_body", sa.Text()),
        sa.Column("reply_status", sa.Integer()),
        sa.Column("reply_headers", sa.Text()),
        sa.Column("reply_body", sa.LargeBinary()),
        sa.Column("reply_truncated", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        _fk("delivery_id", "attempts", "deliveries.id"),
    )
    op.create_index("ix_attempts_delivery_id_number", "attempts", ["delivery_id", "number"])
    op.create_table(
        "notices",
        _id(),
        _id("account_id", nullable=False),
        _ts("created_at"),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
        _fk("account_id", "notices", "accounts.id"),
    )
    op.create_index("ix_notices_account_id_created_at", "notices", ["account_id", "created_at"])


def upgrade() -> None:
    """Create every table and index."""
    _directory()
    _postbacks()
    _events()
    _deliveries()
    _log()


TABLES = (
    "notices",
    "attempts",
    "deliveries",
    "events",
    "postback_rate",
    "postbacks",
    "media_sources",
    "contract_event_types",
    "contracts",
    "action_trackers",
    "programs",
    "api_keys",
    "accounts",
)


def downgrade() -> None:
    """Drop everything (indexes go with their tables)."""
    for table in TABLES:
        op.drop_table(table)
