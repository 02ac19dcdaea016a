"""The work of the ``postback test`` and ``postback replay`` commands.

They read and check the command line's input, run the use case through the
:class:`Service` on the configured database (as the operator), and write the result as
terminal text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from postback.cli.template_io import InputError, read_json
from postback.conditions import Verdict
from postback.config import Settings
from postback.domain.records import (
    FINAL_STATUSES,
    ApiKey,
    DeliveryStatus,
    Event,
    RenderedRequest,
    Replay,
    Reply,
)
from postback.errors import PostbackError, ValidationProblem
from postback.service.usecases import OPERATOR, Service, TestSend
from postback.storage import open_store
from postback.storage.interfaces import DeliveryFilter

T = TypeVar("T")


async def with_service(settings: Settings, work: Callable[[Service], Awaitable[T]]) -> T:
    """Run ``work`` with a service on the configured database, closed afterwards."""
    service = Service(open_store(settings.database_url), settings)
    try:
        return await work(service)
    finally:
        await service.aclose()


def problem_text(exc: PostbackError) -> str:
    """A one-or-more-line message for an error; a problem list names each field."""
    if isinstance(exc, ValidationProblem):
        return "\n".join(f"{p.get('field')}: {p.get('message')}" for p in exc.problems)
    return str(exc)


# -- test ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SendInput:
    postback_id: str
    event: Event | None
    event_id: str | None


def send_input(postback_id: str, event_file: Path | None, event_id: str | None) -> SendInput:
    """The checked input of ``postback test``: at most one of an event file or an id."""
    if event_file is not None and event_id is not None:
        raise InputError("give --event or --event-id, not both")
    event = None if event_file is None else load_event(event_file)
    return SendInput(postback_id, event, event_id)


def load_event(path: Path) -> Event:
    """An event from a JSON file shaped like one item of ``POST /v1/events``."""
    from postback.api.schemas import EventIn

    loaded = read_json(path)
    try:
        body = EventIn.model_validate(loaded)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise InputError(f"{path}: {where}: {first['msg']}") from None
    return Event(id=body.id, type=body.type, occurred_at=body.occurred_at, data=body.data)


async def send_test(service: Service, given: SendInput) -> TestSend:
    """Send the postback now, for the given or stored event or a sample."""
    postback = await service.get_postback(OPERATOR, given.postback_id)
    return await service.test_send(postback, given.event, given.event_id)


def show_sent(result: TestSend) -> str:
    """The request as sent (secrets redacted), the reply, and the verdict."""
    sent = result.sent
    lines = request_lines(result.request)
    lines += ["<"] if sent.reply is None else reply_lines(sent.reply)
    took = f"{sent.duration_ms:.0f} ms"
    if result.verdict.delivered:
        lines.append(f"delivered in {took}")
    else:
        detail = sent.error or result.verdict.detail
        lines.append(f"not delivered ({result.verdict.reason}): {detail} [{took}]")
    lines += condition_lines(result.condition)
    return "\n".join(lines)


def condition_lines(verdict: Verdict | None) -> list[str]:
    """Whether the condition holds for this event (sent anyway: this is a test)."""
    if verdict is None:
        return []
    if verdict.holds:
        return ["condition: true (ingest creates a delivery for this event)"]
    why = "false" if verdict.error is None else f"error: {verdict.error}"
    return [f"condition: {why} (ingest would create no delivery for this event)"]


def request_lines(request: RenderedRequest) -> list[str]:
    lines = [f"> {request.method} {request.url}"]
    lines += [f"> {name}: {value}" for name, value in request.headers]
    if request.body is not None:
        lines += [">"] + [f"> {line}" for line in request.body.splitlines()]
    return lines


def reply_lines(reply: Reply) -> list[str]:
    from postback.delivery.redact import redact_headers

    lines = [f"< HTTP {reply.status}"]
    lines += [f"< {name}: {value}" for name, value in redact_headers(reply.headers)]
    body = reply.body.decode("utf-8", "replace")
    if body:
        lines += ["<"] + [f"< {line}" for line in body.splitlines()]
    if reply.truncated:
        lines.append("< … (truncated)")
    return lines


# -- replay --------------------------------------------------------------------------------
def replay_filter(
    *,
    postback_id: str | None,
    status: str | None,
    action_id: str | None,
    since: str | None,
    until: str | None,
    everything: bool,
) -> DeliveryFilter:
    """The filter ``postback replay`` was given; no filter at all needs ``--all``."""
    flt = DeliveryFilter(
        postback_id=postback_id,
        status=None if status is None else final_status(status),
        action_id=action_id,
        since=None if since is None else moment("--since", since),
        until=None if until is None else moment("--until", until),
    )
    if flt == DeliveryFilter() and not everything:
        raise InputError(
            "give a filter (--postback, --status, --action-id, --since, --until), "
            "or --all to replay every finished delivery"
        )
    if flt.since is not None and flt.until is not None and flt.since >= flt.until:
        raise InputError("--since must be earlier than --until")
    return flt


def final_status(raw: str) -> DeliveryStatus:
    finals = ", ".join(sorted(s.value for s in FINAL_STATUSES))
    try:
        status = DeliveryStatus(raw)
    except ValueError:
        raise InputError(f"--status {raw!r} is not a status; use {finals}") from None
    if status not in FINAL_STATUSES:
        raise InputError(f"only finished deliveries are replayed: --status {finals}")
    return status


def moment(option: str, raw: str) -> datetime:
    """An ISO 8601 date and time with an offset, as the API takes ``since`` / ``until``."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not 1900 <= value.year <= 9000:
        raise InputError(
            f"{option} {raw!r}: write a date and time with an offset, "
            "e.g. 2026-11-23T10:00:00Z or 2026-11-23T12:00:00+02:00"
        )
    return value


async def replay(service: Service, flt: DeliveryFilter, everything: bool = False) -> Replay:
    """Queue the matching finished deliveries to be sent again now."""
    return await service.replay(OPERATOR, flt, everything)


async def watch_replay(
    service: Service, replay_id: str, show: Callable[[Replay], None], interval: float = 0.5
) -> Replay:
    """Read a replay's progress, passing each reading to ``show``, until every delivery
    it queued has been sent (delivered, failed or retrying)."""
    while True:
        progress = await service.replay_progress(OPERATOR, replay_id)
        show(progress)
        if progress.sent:
            return progress
        await asyncio.sleep(interval)


def replay_summary(progress: Replay) -> str:
    """One line: what became of a replay's deliveries."""
    return (
        f"replay {progress.id}: {progress.delivered} delivered, {progress.failed} failed, "
        f"{progress.retrying} retrying, {progress.waiting} waiting (of {progress.total})"
    )


# -- keys ------------------------------------------------------------------------------------
def key_lines(found: list[ApiKey]) -> list[str]:
    """One line per key: id, prefix, created, last used, revoked (``-`` for none)."""

    def when(moment: datetime | None) -> str:
        return "-" if moment is None else moment.isoformat(timespec="seconds")

    head = "id\tprefix\tcreated_at\tlast_used_at\trevoked_at"
    return [head] + [
        "\t".join(
            (k.id, k.prefix or "-", when(k.created_at), when(k.last_used_at), when(k.revoked_at))
        )
        for k in found
    ]


async def list_keys(service: Service, account_id: str) -> list[ApiKey]:
    return await service.list_keys(OPERATOR, account_id)


async def create_key(service: Service, account_id: str) -> tuple[ApiKey, str]:
    return await service.create_key(OPERATOR, account_id)


async def revoke_key(service: Service, account_id: str, key_id: str) -> ApiKey:
    return await service.revoke_key(OPERATOR, account_id, key_id)
