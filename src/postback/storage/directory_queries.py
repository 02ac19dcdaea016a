"""SQL for accounts, API keys, programs, event types, contracts and media sources."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from postback.config import Network
from postback.domain import keys
from postback.domain.records import (
    Account,
    AccountKind,
    ApiKey,
    Contract,
    EventType,
    MediaSource,
    PartnerType,
    Program,
)
from postback.errors import NotFound, ValidationProblem, problem
from postback.storage import rows
from postback.storage.interfaces import AccountPage
from postback.storage.sql import (
    accounts,
    api_keys,
    contract_event_types,
    contracts,
    event_types,
    media_sources,
    programs,
)


def _problem(field: str, code: str, message: str) -> ValidationProblem:
    return ValidationProblem([problem(field, code, message)])


# -- accounts and keys -------------------------------------------------------------


async def create_account(
    conn: AsyncConnection,
    name: str,
    kind: AccountKind,
    partner_type: PartnerType | None,
    key_hash: str,
    *,
    now: datetime,
    key_prefix: str | None = None,
    allowed_networks: tuple[Network, ...] = (),
) -> Account:
    """Insert an account and its first API key."""
    acc = Account(
        id=rows.new_id("acc"),
        name=name,
        kind=kind,
        partner_type=partner_type,
        created_at=now,
        allowed_networks=allowed_networks,
    )
    await conn.execute(
        insert(accounts).values(
            id=acc.id,
            name=name,
            kind=kind.value,
            partner_type=partner_type.value if partner_type else None,
            created_at=now,
            allowed_networks=rows.networks_text(allowed_networks),
        )
    )
    if key_hash:
        await add_api_key(conn, acc.id, key_hash, now, prefix=key_prefix)
    return acc


async def set_allowed_networks(
    conn: AsyncConnection, account_id: str, nets: tuple[Network, ...]
) -> Account:
    """Replace an account's allowed networks (NotFound for an unknown account)."""
    await get_account(conn, account_id)
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(allowed_networks=rows.networks_text(nets))
    )
    return await get_account(conn, account_id)


async def add_api_key(
    conn: AsyncConnection,
    account_id: str,
    key_hash: str,
    now: datetime,
    *,
    prefix: str | None = None,
) -> ApiKey:
    """Another key for an account (NotFound for an unknown account)."""
    await get_account(conn, account_id)
    key = ApiKey(id=rows.new_id("key"), account_id=account_id, prefix=prefix, created_at=now)
    await conn.execute(
        insert(api_keys).values(
            id=key.id, key_hash=key_hash, account_id=account_id, prefix=prefix, created_at=now
        )
    )
    return key


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        account_id=row.account_id,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def account_for_key(conn: AsyncConnection, key_hash: str) -> Account | None:
    found = await find_api_key(conn, key_hash)
    return found[0] if found else None


async def find_api_key(conn: AsyncConnection, key_hash: str) -> tuple[Account, ApiKey] | None:
    """The account and the key with this hash, unless the key is revoked."""
    row = (
        await conn.execute(
            select(accounts, *(c.label(f"key_{c.name}") for c in api_keys.c))
            .join(api_keys, api_keys.c.account_id == accounts.c.id)
            .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    key = ApiKey(
        id=row.key_id,
        account_id=row.key_account_id,
        prefix=row.key_prefix,
        created_at=row.key_created_at,
        last_used_at=row.key_last_used_at,
        revoked_at=row.key_revoked_at,
    )
    return rows.account(row), key


async def touch_api_key(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    """Note that a key was used now, unless that was noted within the last minute (so
    two processes do not both write it)."""
    await conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            or_(
                api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < now - keys.TOUCH_EVERY
            ),
        )
        .values(last_used_at=now)
    )


async def list_api_keys(conn: AsyncConnection, account_id: str) -> list[ApiKey]:
    await get_account(conn, account_id)
    result = await conn.execute(
        select(api_keys)
        .where(api_keys.c.account_id == account_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    return [_api_key(r) for r in result]


async def revoke_api_key(
    conn: AsyncConnection, account_id: str, key_id: str, now: datetime
) -> ApiKey:
    """Revoke one of an account's keys (NotFound for another account's); revoking a
    revoked key keeps its first revocation time."""
    where = (api_keys.c.id == key_id, api_keys.c.account_id == account_id)
    await conn.execute(
        update(api_keys).where(*where, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    row = (await conn.execute(select(api_keys).where(*where))).first()
    if row is None:
        raise NotFound(f"key {key_id} of account {account_id} not found")
    return _api_key(row)


async def get_account(conn: AsyncConnection, account_id: str) -> Account:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        raise NotFound(f"account {account_id} not found")
    return rows.account(row)


async def list_accounts(conn: AsyncConnection) -> list[Account]:
    result = await conn.execute(select(accounts).order_by(accounts.c.created_at, accounts.c.id))
    return [rows.account(r) for r in result]


async def list_partners(
    conn: AsyncConnection, q: str | None, limit: int, cursor: str | None
) -> AccountPage:
    """Partner accounts whose name contains ``q`` (case-insensitive), in name order
    (case folded by the database), keyset-paginated on (folded name, id)."""
    limit = max(1, limit)
    folded = func.lower(accounts.c.name)
    where = [accounts.c.kind == AccountKind.PARTNER.value]
    if q:
        where.append(accounts.c.name.icontains(q, autoescape=True))
    if cursor:
        key, last_id = rows.decode_name_cursor(cursor)
        where.append(or_(folded > key, and_(folded == key, accounts.c.id > last_id)))
    query = select(accounts, folded.label("folded")).where(*where).order_by(folded, accounts.c.id)
    found = list(await conn.execute(query.limit(limit + 1)))
    last = found[limit - 1] if len(found) > limit else None
    return AccountPage(
        items=tuple(rows.account(r) for r in found[:limit]),
        next_cursor=None if last is None else rows.encode_name_cursor(last.folded, last.id),
    )


async def _require_kind(
    conn: AsyncConnection, field: str, account_id: str, kind: AccountKind
) -> None:
    row = (await conn.execute(select(accounts.c.kind).where(accounts.c.id == account_id))).first()
    if row is None:
        raise _problem(field, "not_found", f"no account {account_id}")
    if row.kind != kind.value:
        raise _problem(field, "wrong_kind", f"account {account_id} is not a {kind.value}")


# -- programs and event types --------------------------------------------------------


async def create_program(conn: AsyncConnection, brand_id: str, name: str, now: datetime) -> Program:
    """A program of a brand (a ValidationProblem if ``brand_id`` is not a brand)."""
    await _require_kind(conn, "brand_id", brand_id, AccountKind.BRAND)
    prog = Program(id=rows.new_id("prg"), brand_id=brand_id, name=name)
    await conn.execute(
        insert(programs).values(id=prog.id, brand_id=brand_id, name=name, created_at=now)
    )
    return prog


def _brands(table: Table, owner_id: str | None) -> Select[Any]:
    """A brand's rows of ``table`` (every brand's for the operator), oldest first."""
    query = select(table).order_by(table.c.created_at, table.c.id)
    return query if owner_id is None else query.where(table.c.brand_id == owner_id)


async def _brand_row(
    conn: AsyncConnection, table: Table, row_id: str, owner_id: str | None, what: str
) -> Row[Any]:
    query = _brands(table, owner_id).where(table.c.id == row_id)
    row: Row[Any] | None = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"{what} {row_id} not found")
    return row


async def get_program(conn: AsyncConnection, program_id: str, owner_id: str | None) -> Program:
    return rows.program(await _brand_row(conn, programs, program_id, owner_id, "program"))


async def list_programs(conn: AsyncConnection, owner_id: str | None) -> list[Program]:
    return [rows.program(r) for r in await conn.execute(_brands(programs, owner_id))]


async def create_event_type(
    conn: AsyncConnection, program_id: str, name: str, category: str, now: datetime
) -> EventType:
    """An event type of a program (NotFound for an unknown program)."""
    await get_program(conn, program_id, None)
    item = EventType(id=rows.new_id("et"), program_id=program_id, name=name, category=category)
    await conn.execute(
        insert(event_types).values(
            id=item.id, program_id=program_id, name=name, category=category, created_at=now
        )
    )
    return item


async def get_event_type(conn: AsyncConnection, event_type_id: str) -> EventType:
    row = (await conn.execute(select(event_types).where(event_types.c.id == event_type_id))).first()
    if row is None:
        raise NotFound(f"event type {event_type_id} not found")
    return rows.event_type(row)


async def list_event_types(conn: AsyncConnection, owner_id: str | None) -> list[EventType]:
    """Event types the account sees: a brand its programs', a partner those of programs it
    has a contract on, the operator (None) all."""
    query = (
        select(event_types)
        .join(programs, programs.c.id == event_types.c.program_id)
        .order_by(event_types.c.created_at, event_types.c.id)
    )
    if owner_id is not None:
        partnered = select(contracts.c.program_id).where(contracts.c.partner_id == owner_id)
        query = query.where(or_(programs.c.brand_id == owner_id, programs.c.id.in_(partnered)))
    return [rows.event_type(r) for r in await conn.execute(query)]


# -- contracts -------------------------------------------------------------------------


async def _check_event_types(
    conn: AsyncConnection, program_id: str, event_type_ids: Sequence[str]
) -> None:
    if not event_type_ids:
        return
    found = set(
        (
            await conn.execute(
                select(event_types.c.id).where(
                    event_types.c.id.in_(list(event_type_ids)),
                    event_types.c.program_id == program_id,
                )
            )
        ).scalars()
    )
    missing = [i for i in event_type_ids if i not in found]
    if missing:
        raise _problem(
            "event_type_ids",
            "not_in_program",
            f"event types {', '.join(missing)} are not event types of program {program_id}",
        )


async def create_contract(
    conn: AsyncConnection,
    partner_id: str,
    program_id: str,
    event_type_ids: Sequence[str],
    now: datetime,
) -> Contract:
    """Tie a partner to a program; the event types must be the program's own."""
    await _require_kind(conn, "partner_id", partner_id, AccountKind.PARTNER)
    if (
        await conn.execute(select(programs.c.id).where(programs.c.id == program_id))
    ).first() is None:
        raise _problem("program_id", "not_found", f"no program {program_id}")
    unique_ids = tuple(dict.fromkeys(event_type_ids))
    await _check_event_types(conn, program_id, unique_ids)
    item = Contract(
        id=rows.new_id("con"),
        partner_id=partner_id,
        program_id=program_id,
        event_type_ids=unique_ids,
    )
    await conn.execute(
        insert(contracts).values(
            id=item.id, partner_id=partner_id, program_id=program_id, created_at=now
        )
    )
    if unique_ids:
        await conn.execute(
            insert(contract_event_types),
            [{"contract_id": item.id, "event_type_id": e} for e in unique_ids],
        )
    return item


async def _contracts(conn: AsyncConnection, where: list[object]) -> list[Contract]:
    query = (
        select(contracts, contract_event_types.c.event_type_id)
        .outerjoin(contract_event_types, contract_event_types.c.contract_id == contracts.c.id)
        .join(programs, programs.c.id == contracts.c.program_id)
        .where(*where)  # type: ignore[arg-type]
        .order_by(contracts.c.created_at, contracts.c.id, contract_event_types.c.event_type_id)
    )
    found: dict[str, Contract] = {}
    for row in await conn.execute(query):
        old = found.get(row.id)
        types = old.event_type_ids if old else ()
        if row.event_type_id is not None:
            types = (*types, row.event_type_id)
        found[row.id] = Contract(
            id=row.id, partner_id=row.partner_id, program_id=row.program_id, event_type_ids=types
        )
    return list(found.values())


async def list_contracts(conn: AsyncConnection, account_id: str | None) -> list[Contract]:
    """Contracts the account is a party to (as partner or as the program's brand)."""
    if account_id is None:
        return await _contracts(conn, [])
    return await _contracts(
        conn, [or_(contracts.c.partner_id == account_id, programs.c.brand_id == account_id)]
    )


async def find_contract(conn: AsyncConnection, partner_id: str, program_id: str) -> Contract | None:
    found = await _contracts(
        conn, [contracts.c.partner_id == partner_id, contracts.c.program_id == program_id]
    )
    return found[0] if found else None


# -- media sources ---------------------------------------------------------------------


async def create_media_source(
    conn: AsyncConnection, brand_id: str, name: str, now: datetime
) -> MediaSource:
    await _require_kind(conn, "brand_id", brand_id, AccountKind.BRAND)
    item = MediaSource(id=rows.new_id("src"), brand_id=brand_id, name=name)
    await conn.execute(
        insert(media_sources).values(id=item.id, brand_id=brand_id, name=name, created_at=now)
    )
    return item


async def get_media_source(
    conn: AsyncConnection, source_id: str, owner_id: str | None
) -> MediaSource:
    row = await _brand_row(conn, media_sources, source_id, owner_id, "media source")
    return rows.media_source(row)


async def list_media_sources(conn: AsyncConnection, owner_id: str | None) -> list[MediaSource]:
    return [rows.media_source(r) for r in await conn.execute(_brands(media_sources, owner_id))]
