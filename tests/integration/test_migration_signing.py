"""Migration 0009 gives every existing postback a signing secret of its own."""

from __future__ import annotations

from sqlalchemy import Connection

from postback.storage.sql_store import SQLStore


def _old_postbacks(conn: Connection) -> None:
    conn.exec_driver_sql(
        "INSERT INTO accounts (id, name, kind, created_at) "
        "VALUES ('acc', 'P', 'partner', '2026-01-01 00:00:00+00')"
    )
    for n in (1, 2):
        conn.exec_driver_sql(
            "INSERT INTO postbacks (id, owner_id, kind, name, url, method, headers, "
            "min_delay_seconds, enabled, include_installs, include_locking, created_at, "
            f"updated_at) VALUES ('pb{n}', 'acc', 'action_lifecycle', '', 'http://x/', 'GET', "
            "'[]', 0, true, false, false, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
        )


async def test_0009_gives_existing_postbacks_distinct_secrets(store: SQLStore) -> None:
    await store.downgrade("0003")
    async with store.engine.begin() as conn:
        await conn.run_sync(_old_postbacks)
    await store.migrate()
    first = await store.signing_secret("pb1", None)
    second = await store.signing_secret("pb2", None)
    assert first.secret.startswith("whsec_") and second.secret.startswith("whsec_")
    assert first.secret != second.secret
    assert (await store.get_postback("pb1", None)).config.signing_enabled is True
