"""The shared body of both adapters: transactions, error conversion, every Store method.

The SQL itself lives in :mod:`~postback.storage.directory_queries`,
:mod:`~postback.storage.postback_queries`, :mod:`~postback.storage.delivery_queries` and
:mod:`~postback.storage.claim_queries`; adapters only change how the engine is made, how
claims are serialised, and how waiting workers are woken.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from postback.config import Network
from postback.delivery.queue import ALL_DESTINATIONS, AttemptResult, Claim, Destinations, Skip
from postback.domain.clock import Clock, utcnow
from postback.domain.records import (
    Account,
    AccountKind,
    ApiKey,
    Contract,
    Delivery,
    Event,
    EventType,
    MediaSource,
    PartnerType,
    Postback,
    PostbackConfig,
    Program,
    Replay,
    SigningSecret,
)
from postback.errors import Conflict, StoreError, ValidationProblem
from postback.storage import (
    claim_queries,
    delivery_queries,
    directory_queries,
    migrate,
    postback_queries,
    retention_queries,
    skip_queries,
)
from postback.storage.interfaces import (
    AccountPage,
    DeliveryFilter,
    IngestItem,
    IngestResult,
    Notice,
    Page,
)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def refused_value(why: str) -> ValidationProblem:
    """A value the database refuses (the API's edge checks should have caught it): the
    same request will always fail, so it is not an outage to retry."""
    return ValidationProblem(
        [
            {
                "field": "request",
                "code": "rejected_by_database",
                "position": None,
                "message": f"the database refused a value: {why}",
            }
        ]
    )


class SQLStore:
    """A :class:`~postback.storage.interfaces.Store` over a SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._clock = clock
        self._wake = asyncio.Event()

    # -- plumbing ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        """Driver errors become StoreError / Conflict; our own errors pass through."""
        try:
            yield
        except IntegrityError as exc:
            raise Conflict(f"the change clashes with stored data: {exc.orig}") from exc
        except DataError as exc:
            raise refused_value(_first_line(exc.orig or exc)) from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"database error: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._errors(), self.engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed when the block ends without an error."""
        async with self._errors(), self._write_engine().begin() as conn:
            yield conn

    def _write_engine(self) -> AsyncEngine:
        return self.engine

    async def _notify(self, conn: AsyncConnection) -> None:
        """Inside a transaction that made work: tell other processes (PostgreSQL)."""

    def _work_added(self) -> None:
        self._wake.set()

    # -- life cycle --------------------------------------------------------------------

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (safe to run at every start)."""
        async with self._write() as conn:
            await conn.run_sync(migrate.upgrade)

    async def downgrade(self, revision: str = "base") -> None:
        """Take the schema back to ``revision``; ``base`` drops every table."""
        async with self._write() as conn:
            await conn.run_sync(migrate.downgrade, revision)

    async def close(self) -> None:
        await self.engine.dispose()

    # -- accounts and keys ---------------------------------------------------------------

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
        async with self._write() as conn:
            return await directory_queries.create_account(
                conn,
                name,
                kind,
                partner_type,
                key_hash,
                now=self._clock(),
                key_prefix=key_prefix,
                allowed_networks=allowed_networks,
            )

    async def set_allowed_networks(self, account_id: str, nets: tuple[Network, ...]) -> Account:
        """Replace the networks an account's postbacks may reach (operator only)."""
        async with self._write() as conn:
            return await directory_queries.set_allowed_networks(conn, account_id, nets)

    async def add_api_key(
        self, account_id: str, key_hash: str, prefix: str | None = None
    ) -> ApiKey:
        async with self._write() as conn:
            return await directory_queries.add_api_key(
                conn, account_id, key_hash, self._clock(), prefix=prefix
            )

    async def account_for_key(self, key_hash: str) -> Account | None:
        async with self._read() as conn:
            return await directory_queries.account_for_key(conn, key_hash)

    async def find_api_key(self, key_hash: str) -> tuple[Account, ApiKey] | None:
        async with self._read() as conn:
            return await directory_queries.find_api_key(conn, key_hash)

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        async with self._write() as conn:
            await directory_queries.touch_api_key(conn, key_id, now)

    async def list_api_keys(self, account_id: str) -> list[ApiKey]:
        async with self._read() as conn:
            return await directory_queries.list_api_keys(conn, account_id)

    async def revoke_api_key(self, account_id: str, key_id: str) -> ApiKey:
        async with self._write() as conn:
            return await directory_queries.revoke_api_key(conn, account_id, key_id, self._clock())

    async def get_account(self, account_id: str) -> Account:
        async with self._read() as conn:
            return await directory_queries.get_account(conn, account_id)

    async def list_accounts(self) -> list[Account]:
        async with self._read() as conn:
            return await directory_queries.list_accounts(conn)

    async def list_partners(self, q: str | None, limit: int, cursor: str | None) -> AccountPage:
        """The partner directory: by name, ``next_cursor`` fetching the following page."""
        async with self._read() as conn:
            return await directory_queries.list_partners(conn, q, limit, cursor)

    # -- programs, event types, contracts, media sources ---------------------------------

    async def create_program(self, brand_id: str, name: str) -> Program:
        async with self._write() as conn:
            return await directory_queries.create_program(conn, brand_id, name, self._clock())

    async def get_program(self, program_id: str, owner_id: str | None) -> Program:
        async with self._read() as conn:
            return await directory_queries.get_program(conn, program_id, owner_id)

    async def list_programs(self, owner_id: str | None) -> list[Program]:
        async with self._read() as conn:
            return await directory_queries.list_programs(conn, owner_id)

    async def create_event_type(self, program_id: str, name: str, category: str) -> EventType:
        async with self._write() as conn:
            return await directory_queries.create_event_type(
                conn, program_id, name, category, self._clock()
            )

    async def get_event_type(self, event_type_id: str) -> EventType:
        async with self._read() as conn:
            return await directory_queries.get_event_type(conn, event_type_id)

    async def list_event_types(self, owner_id: str | None) -> list[EventType]:
        async with self._read() as conn:
            return await directory_queries.list_event_types(conn, owner_id)

    async def list_media_sources(self, owner_id: str | None) -> list[MediaSource]:
        async with self._read() as conn:
            return await directory_queries.list_media_sources(conn, owner_id)

    async def create_contract(
        self, partner_id: str, program_id: str, event_type_ids: Sequence[str]
    ) -> Contract:
        async with self._write() as conn:
            return await directory_queries.create_contract(
                conn, partner_id, program_id, event_type_ids, self._clock()
            )

    async def list_contracts(self, account_id: str | None) -> list[Contract]:
        async with self._read() as conn:
            return await directory_queries.list_contracts(conn, account_id)

    async def find_contract(self, partner_id: str, program_id: str) -> Contract | None:
        async with self._read() as conn:
            return await directory_queries.find_contract(conn, partner_id, program_id)

    async def create_media_source(self, brand_id: str, name: str) -> MediaSource:
        async with self._write() as conn:
            return await directory_queries.create_media_source(conn, brand_id, name, self._clock())

    async def get_media_source(self, source_id: str, owner_id: str | None) -> MediaSource:
        async with self._read() as conn:
            return await directory_queries.get_media_source(conn, source_id, owner_id)

    # -- postbacks -----------------------------------------------------------------------

    async def create_postback(self, owner_id: str, config: PostbackConfig) -> Postback:
        async with self._write() as conn:
            return await postback_queries.create(conn, owner_id, config, self._clock())

    async def get_postback(self, postback_id: str, owner_id: str | None) -> Postback:
        async with self._read() as conn:
            return await postback_queries.get(conn, postback_id, owner_id)

    async def list_postbacks(self, owner_id: str | None) -> list[Postback]:
        async with self._read() as conn:
            return await postback_queries.list_for(conn, owner_id)

    async def update_postback(
        self, postback_id: str, owner_id: str | None, config: PostbackConfig
    ) -> Postback:
        """Replace the configuration; saving it enabled lifts an automatic disabling."""
        async with self._write() as conn:
            return await postback_queries.replace(
                conn, postback_id, owner_id, config, self._clock()
            )

    async def signing_secret(self, postback_id: str, owner_id: str | None) -> SigningSecret:
        async with self._read() as conn:
            return await postback_queries.secret(conn, postback_id, owner_id)

    async def rotate_signing_secret(
        self, postback_id: str, owner_id: str | None, keep_old_seconds: float
    ) -> SigningSecret:
        """A new secret; the old one keeps signing for ``keep_old_seconds`` more."""
        keep_until = self._clock() + timedelta(seconds=keep_old_seconds)
        async with self._write() as conn:
            return await postback_queries.rotate_secret(conn, postback_id, owner_id, keep_until)

    async def delete_postback(self, postback_id: str, owner_id: str | None) -> None:
        """Delete it; its log stays and its unsent deliveries are marked failed."""
        async with self._write() as conn:
            await postback_queries.remove(conn, postback_id, owner_id, self._clock())

    async def matching_postbacks_many(self, events: Sequence[Event]) -> list[list[Postback]]:
        """Enabled postbacks each event fans out to, in order, on one connection."""
        if not events:
            return []
        async with self._read() as conn:
            return await postback_queries.matching_many(conn, events)

    async def event_reaches(self, postback_id: str, event: Event) -> bool:
        """Whether ``event`` is one the postback is for, whether it is enabled or not."""
        async with self._read() as conn:
            return await postback_queries.reaches(conn, postback_id, event)

    # -- events and deliveries -----------------------------------------------------------

    async def ingest(self, items: Sequence[IngestItem]) -> list[IngestResult]:
        """Store events and their deliveries atomically; a known event id creates nothing."""
        async with self._write() as conn:
            results = await delivery_queries.ingest(conn, items, self._clock())
            created = any(not r.duplicate and r.deliveries for r in results)
            if created:
                await self._notify(conn)
        if created:
            self._work_added()
        return results

    async def get_event(self, event_id: str) -> Event:
        async with self._read() as conn:
            return await delivery_queries.get_event(conn, event_id)

    async def list_deliveries(
        self, owner_id: str | None, flt: DeliveryFilter, limit: int, cursor: str | None
    ) -> Page:
        """Newest first; ``next_cursor`` fetches the following page."""
        async with self._read() as conn:
            return await delivery_queries.list_page(conn, owner_id, flt, limit, cursor)

    async def get_delivery(self, delivery_id: str, owner_id: str | None) -> Delivery:
        """One delivery with all its attempts, in order."""
        async with self._read() as conn:
            return await delivery_queries.get_delivery(conn, delivery_id, owner_id)

    async def redeliver(self, delivery_id: str, owner_id: str | None, now: datetime) -> Delivery:
        """Schedule again at ``now`` with a fresh retry round; Conflict while sending."""
        async with self._write() as conn:
            found = await delivery_queries.redeliver(conn, delivery_id, owner_id, now)
            await self._notify(conn)
        self._work_added()
        return found

    async def resend_as_sent(
        self, delivery_id: str, owner_id: str | None, now: datetime
    ) -> Delivery:
        """A new delivery of the original's stored request, due at ``now``."""
        async with self._write() as conn:
            found = await delivery_queries.resend_as_sent(
                conn, delivery_id, owner_id, now, self._clock()
            )
            await self._notify(conn)
        self._work_added()
        return found

    async def replay(self, owner_id: str | None, flt: DeliveryFilter, now: datetime) -> int:
        """Redeliver every finished delivery the filter selects; return how many."""
        async with self._write() as conn:
            count = await delivery_queries.replay(conn, owner_id, flt, now)
            if count:
                await self._notify(conn)
        if count:
            self._work_added()
        return count

    async def start_replay(
        self, owner_id: str | None, flt: DeliveryFilter, now: datetime
    ) -> Replay:
        async with self._write() as conn:
            started = await delivery_queries.start_replay(conn, owner_id, flt, now)
            if started.total:
                await self._notify(conn)
        if started.total:
            self._work_added()
        return started

    async def get_replay(self, replay_id: str, owner_id: str | None) -> Replay:
        async with self._read() as conn:
            return await delivery_queries.get_replay(conn, replay_id, owner_id)

    async def list_notices(self, account_id: str) -> list[Notice]:
        """Messages for an account, newest first."""
        async with self._read() as conn:
            return await delivery_queries.list_notices(conn, account_id)

    # -- the worker's side ---------------------------------------------------------------

    async def due_backlog(self, now: datetime, cap: int) -> tuple[int, datetime | None]:
        """Due, unfinished deliveries (counted up to ``cap``) and the oldest due time."""
        async with self._read() as conn:
            return await claim_queries.backlog(conn, now, cap)

    async def count_old_attempts(self, before: datetime) -> int:
        """Attempts (with their replies) started before ``before``: what pruning removes."""
        async with self._read() as conn:
            return await retention_queries.count_old(conn, before)

    async def prune_attempts(self, before: datetime, limit: int) -> int | None:
        """Delete up to ``limit`` attempts started before ``before``, in one short
        transaction; None when another process is pruning (PostgreSQL)."""
        async with self._write() as conn:
            return await retention_queries.delete_old(conn, before, limit)

    async def claim(
        self,
        worker_id: str,
        now: datetime,
        limit: int,
        lease_seconds: float,
        where: Destinations = ALL_DESTINATIONS,
    ) -> list[Claim]:
        """Lease up to ``limit`` due deliveries, oldest first, honouring per-action order
        and each postback's rate limit (slots reserved in the database)."""
        async with self._write() as conn:
            return await claim_queries.claim(
                conn, worker_id, now, limit, lease_seconds, where=where
            )

    async def skip_destination(self, skip: Skip, now: datetime, limit: int) -> int:
        """Move a destination's due deliveries to ``skip.until``, a skipped attempt each
        (its circuit breaker is open); how many moved."""
        async with self._write() as conn:
            return await skip_queries.skip_destination(conn, skip, now, limit)

    async def complete(self, results: Sequence[AttemptResult], again: bool = False) -> None:
        """Log the attempts and move each delivery to its new status, in one transaction;
        ``again`` when an earlier try may have been committed (attempts are not doubled)."""
        if not results:
            return
        async with self._write() as conn:
            await claim_queries.complete(conn, results, self._clock(), again)

    async def release(self, worker_id: str, delivery_ids: Sequence[str]) -> int:
        """Give back claimed deliveries that were not sent: due at once for any worker."""
        if not delivery_ids:
            return 0
        async with self._write() as conn:
            count = await claim_queries.release(conn, worker_id, delivery_ids)
            await self._notify(conn)
        self._work_added()
        return count

    async def next_due_at(self, skip: frozenset[str] = frozenset()) -> datetime | None:
        """The earliest time a claim could find work (leaving out ``skip``'s
        destinations), or None when nothing is pending."""
        async with self._read() as conn:
            return await claim_queries.next_due_at(conn, self._clock(), skip)

    async def wait_for_work(self, max_wait: float) -> None:
        """Return when new deliveries may be due (in-process wake-up) or on timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, max_wait))
        self._wake.clear()
