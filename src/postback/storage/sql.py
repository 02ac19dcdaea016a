"""Every table, in one SQLAlchemy Core :class:`MetaData`; both adapters query these.

Times are timezone-aware UTC in and out (:class:`UTCDateTime`); JSON values are stored
as text so the schema is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import true
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

ID = String(40)
#: Statuses a worker may still act on; the claim index covers only these.
# "sending" is never stored (a leased row reads as sending); it stays here because the
# claim index was created with this predicate, and queries are written to imply it.
OPEN_STATUSES = ("scheduled", "retrying", "sending")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text in SQLAlchemy's
    fixed-width format, so text comparison orders correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC; naive values are taken to be UTC already."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach (or convert to) UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _big_int() -> BigInteger:
    # SQLite only auto-assigns an INTEGER PRIMARY KEY, so it gets plain INTEGER there.
    return BigInteger().with_variant(Integer(), "sqlite")


accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("partner_type", String(16)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("allowed_networks", Text),  # CIDRs separated by commas (migration 0005)
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(128), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Migration 0007: an id to list and revoke a key by, its first characters, when it
    # was last used (written at most once a minute) and when it was revoked.
    Column("id", ID, nullable=False),
    Column("prefix", String(16)),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Index(None, "account_id"),
    Index("ix_api_keys_id", "id", unique=True),
)

programs = Table(
    "programs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("brand_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "brand_id"),
)

event_types = Table(
    "event_types",
    metadata,
    Column("id", ID, primary_key=True),
    Column("program_id", ID, ForeignKey("programs.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("category", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "program_id"),
)

contracts = Table(
    "contracts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("partner_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("program_id", ID, ForeignKey("programs.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("partner_id", "program_id"),
    Index(None, "program_id"),
)

contract_event_types = Table(
    "contract_event_types",
    metadata,
    Column("contract_id", ID, ForeignKey("contracts.id", ondelete="CASCADE"), nullable=False),
    Column("event_type_id", ID, ForeignKey("event_types.id"), nullable=False),
    PrimaryKeyConstraint("contract_id", "event_type_id"),
    Index(None, "event_type_id"),
)

media_sources = Table(
    "media_sources",
    metadata,
    Column("id", ID, primary_key=True),
    Column("brand_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "brand_id"),
)

postbacks = Table(
    "postbacks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("method", String(8), nullable=False),
    Column("body", Text),
    Column("body_format", String(16)),
    Column("headers", Text, nullable=False),  # JSON: [[name, value template], ...]
    Column("min_delay_seconds", Integer, nullable=False),
    Column("max_requests_per_second", Float),
    Column("success_response", Text),
    Column("error_response", Text),
    Column("enabled", Boolean, nullable=False),
    Column("partner_id", ID),
    Column("event_type_id", ID),
    Column("media_source_id", ID),
    Column("include_installs", Boolean, nullable=False),
    Column("in_app_event", Text),
    Column("include_locking", Boolean, nullable=False),
    Column("condition", Text),  # migration 0008: CEL text or null
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("disabled_reason", Text),
    Column("last_success_at", UTCDateTime),
    Column("failing_since", UTCDateTime),
    Column("trigger", String(16)),  # migration 0006; partner integrations only
    Column("disabled_at", UTCDateTime),  # migration 0006; set with disabled_reason
    # Signing (migration 0009): the current secret, and a rotated-out one kept until then.
    Column("signing_enabled", Boolean, nullable=False, server_default=true()),
    Column("signing_secret", Text, nullable=False),
    Column("previous_signing_secret", Text),
    Column("previous_secret_until", UTCDateTime),
    Column("version", Integer, nullable=False, server_default="1"),  # migration 0007
    Index(None, "owner_id", "kind"),
    Index(None, "partner_id", "event_type_id"),
    Index(None, "media_source_id", "event_type_id"),
)

postback_rate = Table(
    "postback_rate",
    metadata,
    Column(
        "postback_id",
        ID,
        ForeignKey("postbacks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tat", UTCDateTime, nullable=False),
    Column("queued_until", UTCDateTime),  # migration 0003
)

events = Table(
    "events",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("data", Text, nullable=False),  # JSON object
    Column("received_at", UTCDateTime, nullable=False),
    Column("deliveries_created", Integer, nullable=False),
)

# On PostgreSQL the table keeps free space in each page (fillfactor 50, migration 0002)
# so that a lease, which writes only unindexed columns, is a HOT update.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    # Insertion order: PostgreSQL assigns it; SQLite gets MAX(seq) + 1 in the INSERT.
    Column("seq", _big_int(), Identity(), nullable=False, unique=True),
    Column("postback_id", ID, nullable=False),  # no FK: the log outlives a postback
    Column("owner_id", ID, nullable=False),
    Column("event_id", String(200), ForeignKey("events.id"), nullable=False),
    Column("event_occurred_at", UTCDateTime, nullable=False),
    Column("method", String(8), nullable=False),
    Column("url", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON: [[name, value], ...]
    Column("body", Text),
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("order_key", Text, nullable=False),
    Column("action_id", Text),
    Column("attempt_count", Integer, nullable=False),
    Column("round_attempts", Integer, nullable=False),
    Column("lease_owner", Text),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("replay_id", ID),  # migration 0006: the replay that last queued it
    # The postback's version ``method``..``body`` were rendered with (migration 0007).
    Column("postback_version", Integer, nullable=False, server_default="1"),
    # Migration 0012: the delivery this one resends as sent (its request is kept as is).
    Column("original_id", ID),
    # ``scheme://host:port`` of ``url`` (migration 0013): a worker whose circuit breaker
    # for a destination is open pushes that destination's due deliveries back at once.
    Column("destination", Text),
)
Index(
    "ix_deliveries_claim",
    deliveries.c.due_at,
    deliveries.c.seq,
    postgresql_where=deliveries.c.status.in_(OPEN_STATUSES),
    sqlite_where=deliveries.c.status.in_(OPEN_STATUSES),
)
Index(
    "ix_deliveries_order",
    deliveries.c.postback_id,
    deliveries.c.order_key,
    deliveries.c.event_occurred_at,
    deliveries.c.seq,
)
Index(
    "ix_deliveries_destination",
    deliveries.c.destination,
    deliveries.c.due_at,
    deliveries.c.seq,
    postgresql_where=deliveries.c.status.in_(OPEN_STATUSES),
    sqlite_where=deliveries.c.status.in_(OPEN_STATUSES),
)
Index("ix_deliveries_owner", deliveries.c.owner_id, deliveries.c.created_at, deliveries.c.seq)
Index("ix_deliveries_postback", deliveries.c.postback_id, deliveries.c.created_at)
Index("ix_deliveries_action", deliveries.c.action_id)
Index("ix_deliveries_created", deliveries.c.created_at, deliveries.c.seq)
Index("ix_deliveries_event", deliveries.c.event_id)
# Partial: most deliveries were never replayed, and inserting them need not touch it.
Index(
    "ix_deliveries_replay",
    deliveries.c.replay_id,
    postgresql_where=deliveries.c.replay_id.is_not(None),
    sqlite_where=deliveries.c.replay_id.is_not(None),
)

# A replay's deliveries are marked with its id; its progress is counted from them.
replays = Table(
    "replays",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID),  # null: the operator
    Column("created_at", UTCDateTime, nullable=False),
    Column("total", Integer, nullable=False),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", _big_int(), primary_key=True, autoincrement=True),
    Column("delivery_id", ID, ForeignKey("deliveries.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    # Method, URL and body are null when they are the delivery's (redacted): the log
    # keeps a request once per delivery, not once per retry (migration 0007).
    Column("request_method", String(8)),
    Column("request_url", Text),
    Column("request_headers", Text, nullable=False),  # JSON, as sent (redacted)
    Column("request_body", Text),
    Column("reply_status", Integer),
    Column("reply_headers", Text),  # JSON
    Column("reply_body", LargeBinary),
    Column("reply_truncated", Boolean, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("error", Text),
    Column("postback_version", Integer),  # migration 0007
    Index(None, "delivery_id", "number"),
    Index(None, "started_at"),  # retention finds old attempts by it (migration 0009)
)

notices = Table(
    "notices",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("message", Text, nullable=False),
    Index(None, "account_id", "created_at"),
)
