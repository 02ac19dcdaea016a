"""``postback test`` and ``postback replay`` on a real SQLite database, sending to a real
aiohttp receiver on loopback; the commands run through Typer's test runner in a thread
while the receiver and the worker serve on the test's loop."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from postback.cli.app import app
from postback.domain.records import Delivery, DeliveryStatus
from postback.storage.interfaces import DeliveryFilter
from tests.e2e.receiver import Receiver
from tests.e2e.rig import Rig, all_final

LOOPBACK = "127.0.0.1/32"


async def cli(db_url: str, *args: str, allowed: str = LOOPBACK) -> Result:
    """``postback ARGS`` on the database, in a thread (the command runs a loop of its own)."""
    env = {"POSTBACK_DATABASE_URL": db_url, "POSTBACK_ALLOWED_NETWORKS": allowed}
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def event_file(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "event.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


# -- postback test ---------------------------------------------------------------------------
async def test_test_sends_now_and_prints_request_reply_and_outcome(
    db_url: str, world: Rig, rec: Receiver
) -> None:
    rec.script("/pb", (200, "OK got it", {"X-Reply": "yes"}))
    postback = await world.postback(
        rec.url("/pb?a={ActionId}&p={Payout}"),
        headers=(("X-Campaign", "{CampaignId}"), ("Authorization", "Bearer s3cret")),
        min_delay_seconds=3600,
    )
    result = await cli(db_url, "test", postback.id)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"> GET {rec.url('/pb?a=1000.2000.3000&p=12.50')}"
    assert "> X-Campaign: 1234" in lines
    assert not any("s3cret" in line for line in lines)  # shown redacted
    assert "< HTTP 200" in lines and "< X-Reply: yes" in lines and "< OK got it" in lines
    assert lines[-1].startswith("delivered in ") and lines[-1].endswith(" ms")
    # Sent at once despite the hour's delay, with the real secret; nothing is logged.
    [seen] = rec.on("/pb")
    assert seen.path_qs == "/pb?a=1000.2000.3000&p=12.50"
    assert seen.headers["X-Campaign"] == "1234"
    assert seen.headers["Authorization"] == "Bearer s3cret"
    assert await world.deliveries() == []


async def test_test_renders_for_an_event_file_or_a_stored_event(
    db_url: str, world: Rig, rec: Receiver, tmp_path: Path
) -> None:
    postback = await world.postback(rec.url("/pb?a={ActionId}"))
    given = {
        "id": "evt-file",
        "type": "action.tracked",
        "occurred_at": "2026-11-23T10:00:00Z",
        "data": {"ActionId": "A-FILE", "Payout": "1"},
    }
    result = await cli(db_url, "test", postback.id, "--event", event_file(tmp_path, given))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"> GET {rec.url('/pb?a=A-FILE')}\n")

    stored = await world.event(action_id="A-STORED")
    await world.until(all_final(1))
    result = await cli(db_url, "test", postback.id, "--event-id", stored.id)
    assert result.exit_code == 0, result.output
    assert [s.path_qs for s in rec.on("/pb")] == [
        "/pb?a=A-FILE",
        "/pb?a=A-STORED",
        "/pb?a=A-STORED",
    ]


async def test_test_that_is_not_delivered_exits_1_with_the_reason(
    db_url: str, world: Rig, rec: Receiver
) -> None:
    rec.script("/down", (503, "maintenance", {}))
    postback = await world.postback(rec.url("/down"), success_response="OK")
    result = await cli(db_url, "test", postback.id)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "< HTTP 503" in lines and "< maintenance" in lines
    assert lines[-1].startswith("not delivered (")
    assert len(rec.on("/down")) == 1


async def test_test_says_whether_the_condition_holds(
    db_url: str, world: Rig, rec: Receiver, tmp_path: Path
) -> None:
    rec.script("/pb", (200, "OK", {}))
    postback = await world.postback(rec.url("/pb"), condition='Status == "APPROVED"')
    result = await cli(db_url, "test", postback.id)  # the sample is PENDING: sent anyway
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "condition: false (ingest would create no delivery for this event)"
    )
    given = {
        "id": "evt-cond",
        "type": "action.tracked",
        "occurred_at": "2026-11-23T10:00:00Z",
        "data": {"ActionId": "A-C", "Status": "APPROVED"},
    }
    result = await cli(db_url, "test", postback.id, "-e", event_file(tmp_path, given))
    assert result.stdout.splitlines()[-1].startswith("condition: true")
    broken = await world.postback(rec.url("/pb"), condition="Money2 > 1.0")
    result = await cli(db_url, "test", broken.id, "-e", event_file(tmp_path, given))
    assert "condition: error: Undefined variable or function: 'Money2'" in result.stdout


async def test_test_refuses_loopback_unless_allowed(db_url: str, world: Rig, rec: Receiver) -> None:
    postback = await world.postback(rec.url("/pb"))
    result = await cli(db_url, "test", postback.id, allowed="")
    assert result.exit_code == 1, result.output
    assert "not delivered (blocked_address)" in result.stdout
    assert "<" in result.stdout.splitlines()  # no reply
    assert rec.seen == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ({"id": "e", "type": "action.tracked", "data": {}}, "occurred_at: Field required"),
        (
            {"id": "e", "type": "action.exploded", "occurred_at": "2026-01-01T00:00:00Z"},
            "type: Input should be",
        ),
    ],
)
async def test_test_says_what_is_wrong_with_an_event_file(
    db_url: str, world: Rig, rec: Receiver, tmp_path: Path, content: Any, message: str
) -> None:
    postback = await world.postback(rec.url("/pb"))
    result = await cli(db_url, "test", postback.id, "-e", event_file(tmp_path, content))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert rec.seen == []


async def test_test_errors_for_unknown_ids_and_bad_input(
    db_url: str, world: Rig, rec: Receiver, tmp_path: Path
) -> None:
    postback = await world.postback(rec.url("/pb?a={ActionId}"))
    cases = [
        (["test", "pb_nope"], "error: postback pb_nope not found\n"),
        (["test", postback.id, "--event-id", "evt-nope"], "error: event evt-nope not found\n"),
        (["test", postback.id, "-e", str(tmp_path / "missing.json")], "error: cannot read "),
        (
            ["test", postback.id, "-e", event_file(tmp_path, {}), "--event-id", "x"],
            "error: give --event or --event-id, not both\n",
        ),
    ]
    for args, message in cases:
        result = await cli(db_url, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)
    assert rec.seen == []


async def test_a_database_without_the_schema_is_a_short_error(tmp_path: Path) -> None:
    result = await cli(f"sqlite:///{tmp_path / 'empty.db'}", "test", "pb_x")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: database error:") and "no such table" in lines[0]
    assert lines[1] == "hint: check POSTBACK_DATABASE_URL; a new database needs `postback migrate`"
    assert len(lines) == 2


# -- postback replay --------------------------------------------------------------------------
async def finished(world: Rig, rec: Receiver) -> dict[tuple[str, str | None], Delivery]:
    """Two postbacks (one delivered to, one refused with a 400) and two actions each: four
    finished deliveries, by (postback path, action id)."""
    rec.script("/bad", (400, "no", {}))
    good = await world.postback(rec.url("/ok?a={ActionId}"), name="good")
    bad = await world.postback(rec.url("/bad?a={ActionId}"), name="bad")
    await world.event(action_id="A-1")
    await world.event(action_id="A-2")
    found = await world.until(all_final(4))
    path = {good.id: "/ok", bad.id: "/bad"}
    return {(path[d.postback_id], d.action_id): d for d in found}


async def statuses(world: Rig) -> dict[str, tuple[DeliveryStatus, int]]:
    return {d.id: (d.status, d.attempt_count) for d in await world.deliveries()}


async def test_replay_by_status_and_action_sends_those_again(
    db_url: str, world: Rig, rec: Receiver
) -> None:
    found = await finished(world, rec)
    assert {k: d.status for k, d in found.items()} == {
        ("/ok", "A-1"): DeliveryStatus.DELIVERED,
        ("/ok", "A-2"): DeliveryStatus.DELIVERED,
        ("/bad", "A-1"): DeliveryStatus.FAILED,
        ("/bad", "A-2"): DeliveryStatus.FAILED,
    }
    before = await statuses(world)

    result = await cli(db_url, "replay", "--no-wait", "--status", "failed", "--action-id", "A-1")
    assert replayed(result) == 1

    # The worker sends that one again (a second attempt); the others are untouched.
    again = found[("/bad", "A-1")].id
    await world.until(lambda ds: any(d.id == again and d.attempt_count == 2 for d in ds))
    await world.until(all_final(4))
    after = await statuses(world)
    assert after[again] == (DeliveryStatus.FAILED, 2)
    assert {k: v for k, v in after.items() if k != again} == {
        k: v for k, v in before.items() if k != again
    }
    assert [s.path_qs for s in rec.on("/bad")] == ["/bad?a=A-1", "/bad?a=A-2", "/bad?a=A-1"]


async def test_replay_by_postback_and_time(db_url: str, world: Rig, rec: Receiver) -> None:
    found = await finished(world, rec)
    good = found[("/ok", "A-1")].postback_id
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    result = await cli(db_url, "replay", "--since", future)
    assert replayed(result) == 0  # nothing to wait for
    result = await cli(db_url, "replay", "--until", past, "--postback", good)
    assert replayed(result) == 0

    args = ("--postback", good, "--since", past, "--until", future)
    result = await cli(db_url, "replay", "--no-wait", *args)
    assert replayed(result) == 2
    await world.until(lambda ds: sum(d.attempt_count for d in ds) == 6)
    assert len(rec.on("/ok")) == 4 and len(rec.on("/bad")) == 2

    await world.until(all_final(4))
    result = await cli(db_url, "replay", "--all", "--no-wait")
    assert replayed(result) == 4


def replayed(result: Result) -> int:
    """How many ``postback replay --no-wait`` (or one that queued none) says it queued:
    its whole output is that one line, with the replay's id."""
    assert result.exit_code == 0, result.output
    found = re.fullmatch(r"replayed (\d+) deliver(?:y|ies) \(replay rpl_\w+\)\n", result.stdout)
    assert found is not None, result.stdout
    return int(found.group(1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "error: give a filter (--postback, --status, --action-id, --since, --until), "),
        (["--postback", "pb_nope"], "error: postback pb_nope not found"),
        (["--status", "retrying"], "error: only finished deliveries are replayed"),
        (["--status", "lost"], "error: --status 'lost' is not a status; use delivered, failed"),
        (["--since", "yesterday"], "error: --since 'yesterday': write a date and time with"),
        (["--until", "2026-11-23T10:00:00"], "error: --until '2026-11-23T10:00:00': write"),
        (
            ["--since", "2026-11-24T00:00:00Z", "--until", "2026-11-23T00:00:00Z"],
            "error: --since must be earlier than --until",
        ),
    ],
)
async def test_replay_says_what_is_wrong_and_replays_nothing(
    db_url: str, world: Rig, rec: Receiver, args: list[str], message: str
) -> None:
    await finished(world, rec)
    before = await statuses(world)
    result = await cli(db_url, "replay", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(message), result.stderr
    assert await statuses(world) == before
    page = await world.store.list_deliveries(None, DeliveryFilter(), 10, None)
    assert all(d.status in {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED} for d in page.items)
