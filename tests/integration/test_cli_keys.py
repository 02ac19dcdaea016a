"""`postback keys list|create|revoke ACCOUNT_ID` on the configured database."""

from __future__ import annotations

from postback.domain import keys
from postback.domain.records import AccountKind
from postback.service.usecases import OPERATOR
from tests.e2e.rig import Rig
from tests.integration.test_cli import cli


async def test_create_list_and_revoke_a_key(db_url: str, world: Rig) -> None:
    account, first = await world.service.create_account("B", AccountKind.BRAND, None)
    created = await cli(db_url, "keys", "create", account.id)
    assert created.exit_code == 0, created.output
    new_key = created.stdout.splitlines()[-1]
    assert new_key.startswith(keys.PREFIX)
    assert (await world.service.authenticate(new_key)) is not None

    listed = await cli(db_url, "keys", "list", account.id)
    assert listed.exit_code == 0, listed.output
    head, *lines = listed.stdout.splitlines()
    assert head.split("\t") == ["id", "prefix", "created_at", "last_used_at", "revoked_at"]
    assert [line.split("\t")[1] for line in lines] == [first[:12], new_key[:12]]
    assert new_key not in listed.stdout  # shown once, at creation

    key_id = lines[1].split("\t")[0]
    revoked = await cli(db_url, "keys", "revoke", account.id, key_id)
    assert revoked.exit_code == 0, revoked.output
    assert await world.service.authenticate(new_key) is None
    assert await world.service.authenticate(first) is not None
    listed = await cli(db_url, "keys", "list", account.id)
    assert listed.stdout.splitlines()[2].split("\t")[4] != "-"


async def test_the_operator_gets_keys_and_unknown_ids_exit_2(db_url: str, world: Rig) -> None:
    created = await cli(db_url, "keys", "create", "operator")
    assert created.exit_code == 0, created.output
    assert await world.service.authenticate(created.stdout.splitlines()[-1]) == OPERATOR
    missing = await cli(db_url, "keys", "list", "acc_nope")
    assert missing.exit_code == 2
    assert "error: account acc_nope not found" in missing.output
    wrong = await cli(db_url, "keys", "revoke", "operator", "key_nope")
    assert wrong.exit_code == 2
