"""The store's configuration side on both databases: CRUD, owner scoping, matching."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy

from postback.domain.records import (
    AccountKind,
    BodyFormat,
    EventTopic,
    HttpMethod,
    PartnerType,
    PostbackKind,
)
from postback.errors import Conflict, NotFound, ValidationProblem
from postback.storage import open_store
from postback.storage.postgresql import PostgresStore
from postback.storage.sql_store import SQLStore
from tests.integration.test_store_helpers import World, action, config, lifecycle, make_world

# -- accounts, programs, contracts, media sources ------------------------------------------


async def test_accounts_and_keys(store: SQLStore) -> None:
    acc = await store.create_account("Shop", AccountKind.BRAND, None, "hash-1")
    await store.add_api_key(acc.id, "hash-2")
    assert await store.account_for_key("hash-1") == acc
    assert await store.account_for_key("hash-2") == acc
    assert await store.account_for_key("nope") is None
    assert await store.get_account(acc.id) == acc
    assert acc.created_at.tzinfo is not None
    assert [a.id for a in await store.list_accounts()] == [acc.id]
    with pytest.raises(NotFound):
        await store.get_account("acc_missing")
    with pytest.raises(NotFound):
        await store.add_api_key("acc_missing", "hash-3")
    with pytest.raises(Conflict):
        await store.add_api_key(acc.id, "hash-1")


async def test_partner_type_round_trips(store: SQLStore) -> None:
    acc = await store.create_account("P", AccountKind.PARTNER, PartnerType.LOYALTY, "h")
    assert (await store.get_account(acc.id)).partner_type is PartnerType.LOYALTY


async def test_programs_belong_to_their_brand(store: SQLStore) -> None:
    w = await make_world(store)
    rival = await store.create_account("Rival", AccountKind.BRAND, None, "h-rival")
    assert await store.get_program(w.program.id, w.brand.id) == w.program
    assert await store.get_program(w.program.id, None) == w.program
    with pytest.raises(NotFound):
        await store.get_program(w.program.id, rival.id)
    assert await store.list_programs(rival.id) == []
    assert await store.list_programs(w.brand.id) == [w.program]
    assert await store.get_event_type(w.sale.id) == w.sale
    with pytest.raises(NotFound):
        await store.get_event_type("et_missing")


async def test_a_program_needs_a_brand(store: SQLStore) -> None:
    w = await make_world(store)
    with pytest.raises(ValidationProblem) as err:
        await store.create_program(w.partner.id, "Not mine")
    assert err.value.problems[0]["field"] == "brand_id"
    with pytest.raises(NotFound):
        await store.create_event_type("prg_missing", "x", "sale")


async def test_contracts(store: SQLStore) -> None:
    w = await make_world(store)
    [contract] = await store.list_contracts(w.partner.id)
    assert contract.partner_id == w.partner.id
    assert set(contract.event_type_ids) == {w.sale.id, w.app.id}
    assert await store.list_contracts(w.brand.id) == [contract]
    assert await store.list_contracts(None) == [contract]
    assert await store.list_contracts(w.other.id) == []
    assert await store.find_contract(w.partner.id, w.program.id) == contract
    assert await store.find_contract(w.other.id, w.program.id) is None
    with pytest.raises(Conflict):
        await store.create_contract(w.partner.id, w.program.id, [])


async def test_contract_event_types_must_be_the_programs(store: SQLStore) -> None:
    w = await make_world(store)
    elsewhere = await store.create_program(w.brand.id, "Other shop")
    foreign = await store.create_event_type(elsewhere.id, "Lead", "lead")
    with pytest.raises(ValidationProblem) as err:
        await store.create_contract(w.other.id, w.program.id, [w.sale.id, foreign.id])
    assert err.value.problems[0]["field"] == "event_type_ids"
    assert foreign.id in str(err.value)
    assert await store.find_contract(w.other.id, w.program.id) is None
    with pytest.raises(ValidationProblem):
        await store.create_contract(w.brand.id, w.program.id, [])
    empty = await store.create_contract(w.other.id, elsewhere.id, [])
    assert empty.event_type_ids == ()


async def test_media_sources_belong_to_their_brand(store: SQLStore) -> None:
    w = await make_world(store)
    assert await store.get_media_source(w.source.id, w.brand.id) == w.source
    assert await store.get_media_source(w.source.id, None) == w.source
    with pytest.raises(NotFound):
        await store.get_media_source(w.source.id, w.partner.id)


# -- postbacks ---------------------------------------------------------------------------------


async def test_postback_round_trips_every_field(store: SQLStore) -> None:
    w = await make_world(store)
    full = config(
        PostbackKind.PARTNER_INTEGRATION,
        method=HttpMethod.POST,
        body='{"a": "{ActionId}"}',
        body_format=BodyFormat.JSON,
        headers=(("X-Key", "secret"), ("X-Id", "{ActionId}")),
        min_delay_seconds=30,
        max_requests_per_second=2.5,
        success_response="OK",
        error_response="ERROR",
        enabled=False,
        name="Integration",
        partner_id=w.partner.id,
        event_type_id=w.app.id,
        include_installs=True,
        in_app_event="purchase",
    )
    created = await store.create_postback(w.brand.id, full)
    got = await store.get_postback(created.id, w.brand.id)
    assert got == created
    assert got.config == full
    assert got.created_at.tzinfo is not None


async def test_postbacks_are_scoped_to_their_owner(store: SQLStore) -> None:
    w = await make_world(store)
    mine = await lifecycle(store, w.partner)
    theirs = await lifecycle(store, w.other)
    assert [p.id for p in await store.list_postbacks(w.partner.id)] == [mine.id]
    assert {p.id for p in await store.list_postbacks(None)} == {mine.id, theirs.id}
    assert (await store.get_postback(mine.id, None)).id == mine.id
    with pytest.raises(NotFound):
        await store.get_postback(mine.id, w.other.id)
    with pytest.raises(NotFound):
        await store.update_postback(mine.id, w.other.id, config(name="hijack"))
    with pytest.raises(NotFound):
        await store.delete_postback(mine.id, w.other.id)
    assert (await store.get_postback(mine.id, w.partner.id)).config.name == ""


async def test_update_and_delete_postback(store: SQLStore) -> None:
    w = await make_world(store)
    pb = await lifecycle(store, w.partner)
    changed = await store.update_postback(pb.id, w.partner.id, config(name="renamed"))
    assert changed.config.name == "renamed"
    assert changed.updated_at >= pb.updated_at
    assert changed.created_at == pb.created_at
    await store.delete_postback(pb.id, w.partner.id)
    with pytest.raises(NotFound):
        await store.get_postback(pb.id, None)
    with pytest.raises(NotFound):
        await store.update_postback(pb.id, None, config())
    with pytest.raises(NotFound):
        await store.delete_postback(pb.id, None)


# -- matching -----------------------------------------------------------------------------------


async def _ids(
    store: SQLStore, w: World, event_id: str, etype: EventTopic, **data: object
) -> set[str]:
    return {
        p.id for p in (await store.matching_postbacks_many([action(w, event_id, etype, **data)]))[0]
    }


async def test_action_tracked_reaches_lifecycle_integration_and_media_source(
    store: SQLStore,
) -> None:
    w = await make_world(store)
    life = await lifecycle(store, w.partner)
    await lifecycle(store, w.other)  # another partner's
    integ = await store.create_postback(
        w.brand.id,
        config(PostbackKind.PARTNER_INTEGRATION, partner_id=w.partner.id, event_type_id=w.sale.id),
    )
    await store.create_postback(  # another event type
        w.brand.id,
        config(PostbackKind.PARTNER_INTEGRATION, partner_id=w.partner.id, event_type_id=w.app.id),
    )
    media = await store.create_postback(
        w.brand.id,
        config(PostbackKind.MEDIA_SOURCE, media_source_id=w.source.id, event_type_id=w.sale.id),
    )
    await store.create_postback(w.partner.id, config(PostbackKind.ACTION_CLEARING))
    got = await _ids(store, w, "e1", EventTopic.ACTION_TRACKED, MediaSourceId=w.source.id)
    assert got == {life.id, integ.id, media.id}
    assert await _ids(store, w, "e2", EventTopic.ACTION_TRACKED) == {life.id, integ.id}


async def test_partner_integration_needs_the_contract(store: SQLStore) -> None:
    w = await make_world(store)
    integ = await store.create_postback(
        w.brand.id,
        config(PostbackKind.PARTNER_INTEGRATION, partner_id=w.other.id, event_type_id=w.sale.id),
    )
    data = {"MediaPartnerId": w.other.id}
    assert integ.id not in await _ids(store, w, "e1", EventTopic.ACTION_TRACKED, **data)
    await store.create_contract(w.other.id, w.program.id, [w.sale.id])
    assert integ.id in await _ids(store, w, "e1", EventTopic.ACTION_TRACKED, **data)


async def test_partner_integration_for_one_in_app_event(store: SQLStore) -> None:
    w = await make_world(store)
    named = await store.create_postback(
        w.brand.id,
        config(
            PostbackKind.PARTNER_INTEGRATION,
            partner_id=w.partner.id,
            event_type_id=w.app.id,
            in_app_event="purchase",
        ),
    )
    tracked = EventTopic.ACTION_TRACKED
    app = {"ActionTrackerId": w.app.id}
    assert await _ids(store, w, "e1", tracked, **app, InAppEvent="purchase") == {named.id}
    assert await _ids(store, w, "e2", tracked, **app, EventName="purchase") == {named.id}
    assert await _ids(store, w, "e3", tracked, **app, EventName="level_up") == set()
    assert await _ids(store, w, "e4", tracked, **app) == set()


async def test_app_install_reaches_integrations_with_installs(store: SQLStore) -> None:
    w = await make_world(store)

    async def integration(installs: bool) -> str:
        pb = await store.create_postback(
            w.brand.id,
            config(
                PostbackKind.PARTNER_INTEGRATION,
                partner_id=w.partner.id,
                event_type_id=w.app.id,
                include_installs=installs,
            ),
        )
        return pb.id

    with_installs = await integration(True)
    await integration(False)
    media = await store.create_postback(
        w.brand.id,
        config(PostbackKind.MEDIA_SOURCE, media_source_id=w.source.id, event_type_id=w.app.id),
    )
    await lifecycle(store, w.partner)
    data = {"ActionTrackerId": w.app.id, "MediaSourceId": w.source.id}
    assert await _ids(store, w, "i1", EventTopic.APP_INSTALL, **data) == {with_installs, media.id}


@pytest.mark.parametrize("etype", [EventTopic.ACTION_MODIFIED, EventTopic.ACTION_REVERSED])
async def test_changes_reach_only_lifecycle(store: SQLStore, etype: EventTopic) -> None:
    w = await make_world(store)
    life = await lifecycle(store, w.partner)
    await store.create_postback(
        w.brand.id,
        config(PostbackKind.PARTNER_INTEGRATION, partner_id=w.partner.id, event_type_id=w.sale.id),
    )
    await store.create_postback(
        w.brand.id,
        config(PostbackKind.MEDIA_SOURCE, media_source_id=w.source.id, event_type_id=w.sale.id),
    )
    assert await _ids(store, w, "m1", etype, MediaSourceId=w.source.id) == {life.id}


async def test_locking_is_opt_in_and_clearing_has_its_own_kind(store: SQLStore) -> None:
    w = await make_world(store)
    await lifecycle(store, w.partner)
    locking = await lifecycle(store, w.partner, include_locking=True)
    clearing = await store.create_postback(w.partner.id, config(PostbackKind.ACTION_CLEARING))
    assert await _ids(store, w, "l1", EventTopic.ACTION_LOCKED) == {locking.id}
    assert await _ids(store, w, "c1", EventTopic.ACTION_CLEARED) == {clearing.id}


@pytest.mark.parametrize("etype", [EventTopic.INQUIRY_CREATED, EventTopic.INQUIRY_RESOLVED])
async def test_inquiries_reach_the_partners_inquiry_postbacks(
    store: SQLStore, etype: EventTopic
) -> None:
    w = await make_world(store)
    mine = await store.create_postback(w.partner.id, config(PostbackKind.ACTION_INQUIRY))
    await store.create_postback(w.other.id, config(PostbackKind.ACTION_INQUIRY))
    await lifecycle(store, w.partner)
    assert await _ids(store, w, "q1", etype, InquiryId="Q1") == {mine.id}


async def test_catalog_changes_reach_partners_with_a_contract(store: SQLStore) -> None:
    w = await make_world(store)
    mine = await store.create_postback(w.partner.id, config(PostbackKind.CATALOG_CHANGE))
    await store.create_postback(w.other.id, config(PostbackKind.CATALOG_CHANGE))
    event = action(w, "cat1", EventTopic.CATALOG_ITEM_CHANGED, CatalogItemId="SKU1")
    event.data.pop("MediaPartnerId")
    assert {p.id for p in (await store.matching_postbacks_many([event]))[0]} == {mine.id}


async def test_disabled_postbacks_do_not_match(store: SQLStore) -> None:
    w = await make_world(store)
    live = await lifecycle(store, w.partner)
    await lifecycle(store, w.partner, enabled=False)
    assert await _ids(store, w, "e1", EventTopic.ACTION_TRACKED) == {live.id}


async def test_missing_ids_match_nothing(store: SQLStore) -> None:
    w = await make_world(store)
    await lifecycle(store, w.partner)
    event = action(w, "e1", EventTopic.ACTION_TRACKED)
    event.data.clear()
    assert (await store.matching_postbacks_many([event]))[0] == []


async def test_a_batch_matches_as_each_event_alone_on_one_connection(store: SQLStore) -> None:
    w = await make_world(store)
    await lifecycle(store, w.partner)
    await lifecycle(store, w.partner, include_locking=True)
    await lifecycle(store, w.other)
    await lifecycle(store, w.partner, enabled=False)
    for kind in (PostbackKind.ACTION_CLEARING, PostbackKind.ACTION_INQUIRY):
        await store.create_postback(w.partner.id, config(kind))
    await store.create_postback(w.partner.id, config(PostbackKind.CATALOG_CHANGE))
    for event_type, name in ((w.sale.id, None), (w.app.id, "purchase")):
        integration = config(
            PostbackKind.PARTNER_INTEGRATION,
            partner_id=w.partner.id,
            event_type_id=event_type,
            in_app_event=name,
            include_installs=True,
        )
        await store.create_postback(w.brand.id, integration)
    media = config(PostbackKind.MEDIA_SOURCE, media_source_id=w.source.id, event_type_id=w.app.id)
    await store.create_postback(w.brand.id, media)
    app = {"ActionTrackerId": w.app.id, "MediaSourceId": w.source.id}
    batch = [
        action(w, "t1"),
        action(w, "t2", ActionId="A2"),  # the same match key as t1
        action(w, "t3", **app, InAppEvent="purchase"),
        action(w, "t4", **app, EventName="level_up"),
        action(w, "t5", MediaPartnerId=w.other.id),
        action(w, "t6", MediaPartnerId=""),
        action(w, "i1", EventTopic.APP_INSTALL, **app),
        action(w, "m1", EventTopic.ACTION_MODIFIED),
        action(w, "l1", EventTopic.ACTION_LOCKED),
        action(w, "c1", EventTopic.ACTION_CLEARED, MediaPartnerId=w.other.id),
        action(w, "c2", EventTopic.ACTION_CLEARED),
        action(w, "q1", EventTopic.INQUIRY_CREATED, InquiryId="Q1"),
        action(w, "k1", EventTopic.CATALOG_ITEM_CHANGED, MediaPartnerId=None),
        action(w, "t7"),  # t1's key again, after others
    ]
    alone = [(await store.matching_postbacks_many([e]))[0] for e in batch]
    sizes = [len(found) for found in alone]
    assert 0 in sizes
    assert max(sizes) >= 3
    assert len({tuple(p.id for p in found) for found in alone}) >= 6
    statements: list[str] = []
    checkouts: list[object] = []
    if isinstance(store, PostgresStore):  # its pool hands the last connection back out
        async with store._hot("durable") as conn:
            conn.add_query_logger(lambda q: statements.append(q.query))
        checkouts.append(conn)
    else:
        sync = store.engine.sync_engine
        sqlalchemy.event.listen(sync, "checkout", lambda *a: checkouts.append(a))
        sqlalchemy.event.listen(sync, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert await store.matching_postbacks_many(batch) == alone
    await asyncio.sleep(0.01)  # asyncpg calls its query loggers soon, not at once
    assert len(checkouts) == 1
    distinct_keys = len(batch) - 2  # t2 and t7 share t1's key
    assert len([s for s in statements if "FROM postbacks" in s]) == distinct_keys
    assert await store.matching_postbacks_many([]) == []
    assert len(checkouts) == 1


# -- opening ----------------------------------------------------------------------------------


async def test_open_store_rejects_unknown_urls() -> None:
    from postback.errors import ConfigError

    with pytest.raises(ConfigError):
        open_store("mysql://localhost/db")


async def test_sqlite_in_memory_works() -> None:
    store = open_store("sqlite:///:memory:")
    assert isinstance(store, SQLStore)
    await store.migrate()
    try:
        acc = await store.create_account("B", AccountKind.BRAND, None, "k")
        assert await store.get_account(acc.id) == acc
    finally:
        await store.close()
