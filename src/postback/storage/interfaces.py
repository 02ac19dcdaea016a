"""The storage interfaces: the directory and the queue.

The workers' part of the queue is :mod:`postback.delivery.queue`. Adapters:
:mod:`postback.storage.sqlite` and :mod:`postback.storage.postgresql`, both over the SQL
in :mod:`postback.storage.sql`.

Every method that takes ``owner_id`` scopes the query to that account: an object of
another account raises :class:`postback.errors.NotFound`, exactly like a missing one.
``owner_id=None`` means the operator, who sees everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from postback.config import Network
from postback.delivery.queue import QueueUpkeep
from postback.domain.records import (
    Account,
    AccountKind,
    ApiKey,
    Contract,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    MediaSource,
    NewDelivery,
    PartnerType,
    Postback,
    PostbackConfig,
    Program,
    Replay,
    SigningSecret,
)


@dataclass(frozen=True, slots=True)
class IngestItem:
    """One event and the deliveries rendered for it, stored together or not at all."""

    event: Event
    deliveries: tuple[NewDelivery, ...]


@dataclass(frozen=True, slots=True)
class IngestResult:
    event_id: str
    duplicate: bool  # the id was already stored: nothing new was created
    deliveries: int  # deliveries created by this call for the event (0 for a duplicate)
    # For a duplicate: the event first stored under this id, and what it created.
    original_received_at: datetime | None = None
    original_deliveries: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    postback_id: str | None = None
    status: DeliveryStatus | None = None
    action_id: str | None = None
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[Delivery, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AccountPage:
    items: tuple[Account, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Notice:
    id: str
    account_id: str
    created_at: datetime
    message: str


class Directory(Protocol):
    """Who is who and what is configured: accounts, keys, programs, event types,
    contracts, media sources, postbacks and their secrets."""

    # -- accounts and keys ---------------------------------------------------------
    async def create_account(
        self,
        name: str,
        kind: AccountKind,
        partner_type: PartnerType | None,
        key_hash: str,
        *,
        key_prefix: str | None = None,
        allowed_networks: tuple[Network, ...] = (),
    ) -> Account:
        """An account, with a first key unless ``key_hash`` is empty."""
        ...

    async def set_allowed_networks(self, account_id: str, nets: tuple[Network, ...]) -> Account: ...
    async def add_api_key(
        self, account_id: str, key_hash: str, prefix: str | None = None
    ) -> ApiKey: ...
    async def account_for_key(self, key_hash: str) -> Account | None: ...
    async def find_api_key(self, key_hash: str) -> tuple[Account, ApiKey] | None:
        """The account and key with this hash; None for an unknown or revoked key."""
        ...

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        """Set last_used_at, unless it was set within the last minute."""
        ...

    async def list_api_keys(self, account_id: str) -> list[ApiKey]: ...
    async def revoke_api_key(self, account_id: str, key_id: str) -> ApiKey:
        """Revoke at once (NotFound for a key that is not this account's)."""
        ...

    async def get_account(self, account_id: str) -> Account: ...
    async def list_accounts(self) -> list[Account]: ...
    async def list_partners(self, q: str | None, limit: int, cursor: str | None) -> AccountPage:
        """Partner accounts whose name contains ``q`` (case-insensitive), in name order."""
        ...

    # -- programs, event types, contracts, media sources ---------------------------
    async def create_program(self, brand_id: str, name: str) -> Program: ...
    async def get_program(self, program_id: str, owner_id: str | None) -> Program: ...
    async def list_programs(self, owner_id: str | None) -> list[Program]: ...
    async def create_event_type(self, program_id: str, name: str, category: str) -> EventType: ...
    async def get_event_type(self, event_type_id: str) -> EventType: ...
    async def list_event_types(self, owner_id: str | None) -> list[EventType]: ...
    async def list_media_sources(self, owner_id: str | None) -> list[MediaSource]: ...
    async def create_contract(
        self, partner_id: str, program_id: str, event_type_ids: Sequence[str]
    ) -> Contract: ...
    async def list_contracts(self, account_id: str | None) -> list[Contract]: ...
    async def find_contract(self, partner_id: str, program_id: str) -> Contract | None: ...
    async def create_media_source(self, brand_id: str, name: str) -> MediaSource: ...
    async def get_media_source(self, source_id: str, owner_id: str | None) -> MediaSource: ...

    # -- postbacks -----------------------------------------------------------------
    async def create_postback(self, owner_id: str, config: PostbackConfig) -> Postback: ...
    async def get_postback(self, postback_id: str, owner_id: str | None) -> Postback: ...
    async def list_postbacks(self, owner_id: str | None) -> list[Postback]: ...
    async def update_postback(
        self, postback_id: str, owner_id: str | None, config: PostbackConfig
    ) -> Postback: ...
    async def delete_postback(self, postback_id: str, owner_id: str | None) -> None: ...
    async def signing_secret(self, postback_id: str, owner_id: str | None) -> SigningSecret: ...
    async def rotate_signing_secret(
        self, postback_id: str, owner_id: str | None, keep_old_seconds: float
    ) -> SigningSecret:
        """A new secret; the old one keeps signing for ``keep_old_seconds`` more."""
        ...

    async def matching_postbacks_many(self, events: Sequence[Event]) -> list[list[Postback]]:
        """Enabled postbacks each event of a batch fans out to, in order, found together."""
        ...

    async def event_reaches(self, postback_id: str, event: Event) -> bool:
        """Whether ``event`` is one the postback is for, whether it is enabled or not."""
        ...


class Queue(QueueUpkeep, Protocol):
    """Events and their deliveries: ingest, the log, redeliver and replay, and the
    workers' side (claim, complete, release, retention)."""

    # -- events and deliveries -----------------------------------------------------
    async def ingest(self, items: Sequence[IngestItem]) -> list[IngestResult]:
        """Store events and their deliveries atomically; a known event id creates nothing."""
        ...

    async def list_deliveries(
        self, owner_id: str | None, flt: DeliveryFilter, limit: int, cursor: str | None
    ) -> Page: ...
    async def get_delivery(self, delivery_id: str, owner_id: str | None) -> Delivery: ...
    async def redeliver(
        self, delivery_id: str, owner_id: str | None, now: datetime
    ) -> Delivery: ...
    async def resend_as_sent(
        self, delivery_id: str, owner_id: str | None, now: datetime
    ) -> Delivery:
        """A new delivery, due at ``now``, of the original's stored request as it is (never
        rendered again), linked to it; Conflict when the original has none to send."""
        ...

    async def replay(self, owner_id: str | None, flt: DeliveryFilter, now: datetime) -> int: ...
    async def start_replay(
        self, owner_id: str | None, flt: DeliveryFilter, now: datetime
    ) -> Replay:
        """:meth:`replay`, recorded: the deliveries queued carry the new replay's id."""
        ...

    async def get_replay(self, replay_id: str, owner_id: str | None) -> Replay:
        """A replay with its deliveries counted by status (NotFound if not the owner's)."""
        ...

    async def list_notices(self, account_id: str) -> list[Notice]: ...


class Store(Directory, Queue, Protocol):
    """Both interfaces over one database, with its life cycle."""

    # -- life cycle --------------------------------------------------------------
    async def migrate(self) -> None: ...
    async def close(self) -> None: ...
