"""The routes: thin, each a call into the service, scoped to the caller."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import TypeAdapter, ValidationError

from postback.api import schemas as s
from postback.api.deps import Operator, ServiceDep, Who
from postback.api.inputs import CheckedRoute
from postback.conditions import Verdict
from postback.config import Network
from postback.delivery import metrics
from postback.delivery.redact import redact_headers
from postback.domain.catalogue import catalogue_for
from postback.domain.records import (
    DeliveryStatus,
    Event,
    EventKind,
    PostbackConfig,
    Resend,
)
from postback.errors import NotFound, ValidationProblem, problem
from postback.service.inbox import MAX_BODY, Received
from postback.storage.interfaces import DeliveryFilter
from postback.template.listing import function_rows

health = APIRouter()
v1 = APIRouter(
    prefix="/v1",
    responses={401: {"model": s.MessageOut}, 422: {"model": s.ProblemOut}},
    route_class=CheckedRoute,  # text no database can hold is a 422 before any route runs
)
# Under /v1 but needing no key: what it serves holds no account's data (README).
public = APIRouter(prefix="/v1", responses={422: {"model": s.ProblemOut}}, route_class=CheckedRoute)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": s.MessageOut}}
# A request body over POSTBACK_MAX_BODY_BYTES is refused before the route runs.
INVALID: dict[int | str, dict[str, Any]] = {422: {"model": s.ProblemOut}}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: {"model": s.MessageOut}}
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"model": s.MessageOut}}
OPERATOR_ONLY = FORBIDDEN
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": s.MessageOut}}


@health.get("/healthz", tags=["health"])
async def get_health() -> dict[str, str]:
    return {"status": "ok"}


@health.api_route(
    "/inbox/{name}", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
@health.post("/inbox/{name}", tags=["inbox"], responses={**NOT_FOUND, **INVALID, **TOO_LARGE})
async def record_inbox_request(name: str, request: Request, service: ServiceDep) -> dict[str, str]:
    """The built-in inbox: records any request sent to it (see GET .../requests)."""
    _inbox_enabled(service)
    body = (await request.body())[:MAX_BODY].decode("utf-8", "replace")
    received = Received(
        at=service.clock(),
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        headers=tuple(request.headers.items()),
        body=body,
    )
    service.inbox.record(name, received)
    return {"status": "received"}


@health.get("/inbox/{name}/requests", tags=["inbox"], responses={**NOT_FOUND, **INVALID})
async def list_inbox_requests(name: str, service: ServiceDep) -> list[dict[str, Any]]:
    """What the inbox received, newest last, with secret header values redacted."""
    _inbox_enabled(service)
    return [
        {**dataclasses.asdict(r), "headers": redact_headers(r.headers)}
        for r in service.inbox.read(name)
    ]


def _inbox_enabled(service: ServiceDep) -> None:
    if not service.settings.inbox:
        raise NotFound("the built-in inbox is off; start with --demo or POSTBACK_INBOX=1")


@health.get("/metrics", tags=["health"], response_class=Response)
async def get_metrics() -> Response:
    return Response(metrics.latest(), media_type=CONTENT_TYPE_LATEST)


# -- accounts -----------------------------------------------------------------------
@v1.post("/accounts", status_code=201, tags=["accounts"], responses={**OPERATOR_ONLY, **TOO_LARGE})
async def create_account(body: s.AccountIn, service: ServiceDep, _: Operator) -> s.AccountOut:
    account, key = await service.create_account(
        body.name, body.kind, body.partner_type, _networks(body.allowed_networks)
    )
    return s.AccountOut.of(account, key)


@v1.patch(
    "/accounts/{account_id}",
    tags=["accounts"],
    responses={**NOT_FOUND, **OPERATOR_ONLY, **TOO_LARGE},
)
async def update_account(
    account_id: str, body: s.AccountPatch, service: ServiceDep, _: Operator
) -> s.AccountOut:
    """Set the networks this account's postbacks may reach besides the operator's."""
    nets = _networks(body.allowed_networks)
    return s.AccountOut.of(await service.set_allowed_networks(account_id, nets))


def _networks(cidrs: list[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)  # checked by the schema


@v1.get("/accounts", tags=["accounts"])
async def list_accounts(service: ServiceDep, who: Who) -> list[s.AccountOut]:
    return [s.AccountOut.of(a) for a in await service.list_accounts(who)]


@v1.get("/partners", tags=["accounts"], responses=FORBIDDEN)
async def list_partners(
    service: ServiceDep,
    who: Who,
    q: Annotated[str | None, Query(max_length=200, description="part of the name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> s.PartnerPage:
    """The partner directory, in name order: id, name and type of every partner account,
    for a brand to pick the partner of a contract (brands and the operator only)."""
    page = await service.list_partners(who, q, limit, cursor)
    return s.PartnerPage(
        items=[s.PartnerOut.of(a) for a in page.items], next_cursor=page.next_cursor
    )


@v1.get("/accounts/me", tags=["accounts"])
async def get_current_account(who: Who) -> s.AccountOut | dict[str, str]:
    return {"kind": "operator"} if who.account is None else s.AccountOut.of(who.account)


# -- programs, event types, contracts, media sources ----------------------------------
@v1.post("/programs", status_code=201, tags=["programs"], responses={**NOT_FOUND, **TOO_LARGE})
async def create_program(body: s.ProgramIn, service: ServiceDep, who: Who) -> s.ProgramOut:
    return s.ProgramOut.of(await service.create_program(who, body.brand_id, body.name))


@v1.get("/programs", tags=["programs"])
async def list_programs(service: ServiceDep, who: Who) -> list[s.ProgramOut]:
    return [s.ProgramOut.of(p) for p in await service.list_programs(who)]


@v1.post(
    "/programs/{program_id}/event-types",
    status_code=201,
    tags=["programs"],
    responses={**NOT_FOUND, **TOO_LARGE},
)
async def create_event_type(
    program_id: str, body: s.EventTypeIn, service: ServiceDep, who: Who
) -> s.EventTypeOut:
    created = await service.create_event_type(who, program_id, body.name, body.category)
    return s.EventTypeOut.of(created)


@v1.post("/contracts", status_code=201, tags=["contracts"], responses={**NOT_FOUND, **TOO_LARGE})
async def create_contract(body: s.ContractIn, service: ServiceDep, who: Who) -> s.ContractOut:
    contract = await service.create_contract(
        who, body.program_id, body.partner_id, body.event_type_ids
    )
    return s.ContractOut.of(contract)


@v1.get("/contracts", tags=["contracts"])
async def list_contracts(service: ServiceDep, who: Who) -> list[s.ContractOut]:
    return [
        s.ContractOut.of(n.contract).model_copy(
            update={
                "partner_name": n.partner_name,
                "program_name": n.program_name,
                "brand_name": n.brand_name,
            }
        )
        for n in await service.list_contracts(who)
    ]


@v1.get("/event-types", tags=["programs"])
async def list_event_types(service: ServiceDep, who: Who) -> list[s.EventTypeOut]:
    """Event types of the brand's programs, or of programs the partner has a contract on."""
    return [s.EventTypeOut.of(t) for t in await service.list_event_types(who)]


@v1.get("/media-sources", tags=["media-sources"])
async def list_media_sources(service: ServiceDep, who: Who) -> list[s.MediaSourceOut]:
    return [s.MediaSourceOut.of(m) for m in await service.list_media_sources(who)]


@v1.post(
    "/media-sources", status_code=201, tags=["media-sources"], responses={**NOT_FOUND, **TOO_LARGE}
)
async def create_media_source(
    body: s.MediaSourceIn, service: ServiceDep, who: Who
) -> s.MediaSourceOut:
    return s.MediaSourceOut.of(await service.create_media_source(who, body.brand_id, body.name))


# -- postbacks --------------------------------------------------------------------------
def _config(body: s.PostbackIn) -> PostbackConfig:
    fields = body.model_dump(exclude={"owner_id", "headers"})
    return PostbackConfig(headers=tuple(body.headers.items()), **fields)


@v1.post("/postbacks", status_code=201, tags=["postbacks"], responses={**NOT_FOUND, **TOO_LARGE})
async def create_postback(body: s.PostbackIn, service: ServiceDep, who: Who) -> s.PostbackOut:
    postback = await service.create_postback(who, _config(body), body.owner_id)
    return s.PostbackOut.of(postback)


@v1.get("/postbacks", tags=["postbacks"])
async def list_postbacks(service: ServiceDep, who: Who) -> list[s.PostbackOut]:
    return [s.PostbackOut.of(p) for p in await service.list_postbacks(who)]


@v1.get("/postbacks/{postback_id}", tags=["postbacks"], responses=NOT_FOUND)
async def get_postback(postback_id: str, service: ServiceDep, who: Who) -> s.PostbackOut:
    return s.PostbackOut.of(await service.get_postback(who, postback_id))


@v1.patch("/postbacks/{postback_id}", tags=["postbacks"], responses={**NOT_FOUND, **TOO_LARGE})
async def update_postback(
    postback_id: str, body: s.PostbackPatch, service: ServiceDep, who: Who
) -> s.PostbackOut:
    changes = body.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k not in s.NULLABLE)
    if nulls:
        raise ValidationProblem(
            [problem(k, "null", f"{k} cannot be null; leave it out") for k in nulls]
        )
    if "headers" in changes:
        changes["headers"] = tuple((changes["headers"] or {}).items())
    return s.PostbackOut.of(await service.update_postback(who, postback_id, changes))


@v1.delete("/postbacks/{postback_id}", status_code=204, tags=["postbacks"], responses=NOT_FOUND)
async def delete_postback(postback_id: str, service: ServiceDep, who: Who) -> Response:
    await service.delete_postback(who, postback_id)
    return Response(status_code=204)


@v1.get("/postbacks/{postback_id}/secret", tags=["postbacks"], responses=NOT_FOUND)
async def get_postback_secret(postback_id: str, service: ServiceDep, who: Who) -> s.SecretOut:
    """The postback's signing secret, for its owner to give the receiver."""
    return s.SecretOut.of(await service.signing_secret(who, postback_id))


@v1.post(
    "/postbacks/{postback_id}/secret/rotate",
    tags=["postbacks"],
    responses={**NOT_FOUND, **TOO_LARGE},
)
async def rotate_postback_secret(
    postback_id: str, service: ServiceDep, who: Who, body: s.RotateIn | None = None
) -> s.SecretOut:
    """A new signing secret; the old one keeps signing too for ``keep_old_seconds``."""
    keep = body.keep_old_seconds if body is not None else None
    secret = await service.rotate_signing_secret(who, postback_id, keep)
    return s.SecretOut.of(secret)


def _target(body: s.PreviewIn | None) -> tuple[Event | None, str | None]:
    """The event a preview or test renders for: given, stored (by id), or a sample."""
    if body is None:
        return None, None
    return (_event(body.event) if body.event is not None else None), body.event_id


@v1.post(
    "/postbacks/{postback_id}/preview", tags=["postbacks"], responses={**NOT_FOUND, **TOO_LARGE}
)
async def preview_postback(
    postback_id: str, service: ServiceDep, who: Who, body: s.PreviewIn | None = None
) -> s.PreviewOut:
    postback = await service.get_postback(who, postback_id)
    result = await service.preview(postback, *_target(body))
    return s.PreviewOut(
        request=s.RequestOut.of(result.request),
        params=result.params,
        warnings=result.warnings,
        condition=_condition_out(result.condition),
    )


def _condition_out(verdict: Verdict | None) -> s.ConditionOut | None:
    return None if verdict is None else s.ConditionOut(holds=verdict.holds, error=verdict.error)


@v1.post("/postbacks/{postback_id}/test", tags=["postbacks"], responses={**NOT_FOUND, **TOO_LARGE})
async def test_postback(
    postback_id: str, service: ServiceDep, who: Who, body: s.PreviewIn | None = None
) -> s.TestOut:
    """Send now, bypassing the minimum delay, and show the request and the reply."""
    postback = await service.get_postback(who, postback_id)
    result = await service.test_send(postback, *_target(body))
    return s.TestOut.of(result).model_copy(update={"condition": _condition_out(result.condition)})


def _configuration(body: s.ConfigurationIn) -> tuple[Any, ...]:
    event = body.event or s.SampleEventIn()
    return _config(body.postback), body.postback.owner_id, event.type, event.data


@v1.post("/postbacks/preview", tags=["postbacks"], responses=TOO_LARGE)
async def preview_configuration(
    body: s.ConfigurationIn, service: ServiceDep, who: Who
) -> s.ConfigPreviewOut:
    """Render an unsaved postback: nothing is stored; problems come back in the answer."""
    shown = await service.preview_configuration(who, *_configuration(body))
    return s.ConfigPreviewOut(
        request=None if shown.request is None else s.RequestOut.of(shown.request),
        problems=[s.Problem.model_validate(p) for p in shown.problems],
        warnings=[s.Problem.model_validate(p) for p in shown.warnings],
        event=s.SampleEventOut(type=shown.topic, data=shown.data),
        condition=_condition_out(shown.condition),
    )


@v1.post("/postbacks/test", tags=["postbacks"], responses=TOO_LARGE)
async def test_configuration(
    body: s.ConfigurationIn, service: ServiceDep, who: Who
) -> s.ConfigTestOut:
    """Send an unsaved postback once (422 with the problems a save would report)."""
    shown, result = await service.test_configuration(who, *_configuration(body))
    return s.ConfigTestOut(
        **s.TestOut.of(result).model_dump(exclude={"condition"}),
        warnings=[s.Problem.model_validate(p) for p in shown.warnings],
    )


@public.get("/info", tags=["health"])
async def get_info(service: ServiceDep) -> s.InfoOut:
    """What this server offers the screen (no key needed)."""
    return s.InfoOut(inbox_enabled=service.settings.inbox)


@v1.get("/notices", tags=["notices"])
async def list_notices(service: ServiceDep, who: Who) -> list[s.NoticeOut]:
    """Messages for the caller's account, such as a postback disabled after days of failures."""
    found = await service.list_notices(who)
    return [s.NoticeOut(id=n.id, created_at=n.created_at, message=n.message) for n in found]


@public.get("/parameters/{kind}", tags=["parameters"], responses=NOT_FOUND)
async def list_parameters(kind: str) -> s.CatalogueOut:
    """A parameter catalogue: public, like the template language it documents."""
    try:
        event_kind = EventKind(kind)
    except ValueError:
        choices = ", ".join(k.value for k in EventKind)
        raise NotFound(f"no catalogue {kind!r}; choose one of {choices}") from None
    catalogue = catalogue_for(event_kind)
    return s.CatalogueOut(
        kind=event_kind.value,
        parameters=[_param(p) for p in catalogue.parameters],
        item_fields=[_param(p) for p in catalogue.item_fields],
        functions=[
            s.FunctionOut(
                name=f.name,
                usage=f.usage,
                takes=f.takes,
                gives=f.gives,
                description=f.description,
                example=f.example,
                example_result=f.result,
            )
            for f in function_rows(event_kind)
        ],
    )


def _param(p: Any) -> s.ParameterOut:
    return s.ParameterOut(name=p.name, type=str(p.type), description=p.description)


# -- events -----------------------------------------------------------------------------
def _event(body: s.EventIn) -> Event:
    return Event(id=body.id, type=body.type, occurred_at=body.occurred_at, data=body.data)


EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/EventIn"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/EventIn"}},
                    ]
                }
            }
        },
    }
}
_EVENT = TypeAdapter(s.EventIn)


def _parse_events(payload: Any) -> list[Event]:
    """One event or a list; problems are named ``field`` or ``[i].field``."""
    many = isinstance(payload, list)
    items = payload if many else [payload]
    if not items:
        raise ValidationProblem([problem("body", "empty", "send one event or a non-empty list")])
    problems: list[dict[str, object]] = []
    events: list[Event] = []
    for i, item in enumerate(items):
        try:
            events.append(_event(_EVENT.validate_python(item)))
        except ValidationError as exc:
            prefix = f"[{i}]." if many else ""
            problems += [_pydantic_problem(prefix, err) for err in exc.errors()]
    if problems:
        raise ValidationProblem(problems)
    return events


def _pydantic_problem(prefix: str, err: Any) -> dict[str, object]:
    field = prefix + ".".join(str(p) for p in err["loc"])
    return problem(field.rstrip(".") or "body", err["type"], err["msg"])


@v1.post(
    "/events",
    status_code=202,
    tags=["events"],
    openapi_extra=EVENTS_BODY,
    responses={**OPERATOR_ONLY, **TOO_LARGE},
)
async def ingest_events(
    payload: Annotated[Any, Body(include_in_schema=False)], service: ServiceDep, _: Operator
) -> s.IngestOut:
    """Store one event or a list, and create a delivery for every matching postback."""
    results = await service.ingest(_parse_events(payload), single=not isinstance(payload, list))
    return s.IngestOut(
        events=[s.IngestedEvent.of(r) for r in results],
        deliveries=sum(r.deliveries for r in results),
    )


# -- deliveries -------------------------------------------------------------------------
@v1.get("/deliveries", tags=["deliveries"])
async def list_deliveries(
    service: ServiceDep,
    who: Who,
    postback_id: str | None = None,
    status: DeliveryStatus | None = None,
    action_id: str | None = None,
    since: s.Moment | None = None,
    until: s.Moment | None = None,
    event_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> s.DeliveryPage:
    flt = DeliveryFilter(postback_id, status, action_id, since, until, event_id)
    page = await service.list_deliveries(who, flt, limit, cursor)
    return s.DeliveryPage(
        items=[s.DeliveryOut.of(d) for d in page.items], next_cursor=page.next_cursor
    )


@v1.get("/deliveries/{delivery_id}", tags=["deliveries"], responses=NOT_FOUND)
async def get_delivery(delivery_id: str, service: ServiceDep, who: Who) -> s.DeliveryOut:
    delivery = await service.get_delivery(who, delivery_id)
    return s.DeliveryOut.of(delivery, with_attempts=True)


@v1.post(
    "/deliveries/{delivery_id}/redeliver",
    tags=["deliveries"],
    responses={**NOT_FOUND, **CONFLICT, **TOO_LARGE},
)
async def redeliver_delivery(
    delivery_id: str, service: ServiceDep, who: Who, body: s.RedeliverIn | None = None
) -> s.DeliveryOut:
    """Send again now: ``current`` (the default) queues this delivery again, rendered by
    the postback as it is now; ``as_sent`` answers a new delivery (``original_id`` links
    back) sending this one's stored request as it is, or 409 when it has none."""
    how = Resend.CURRENT if body is None else body.request
    return s.DeliveryOut.of(await service.redeliver(who, delivery_id, how))


@v1.post("/deliveries/replay", tags=["deliveries"], responses={**NOT_FOUND, **TOO_LARGE})
async def replay_deliveries(body: s.ReplayIn, service: ServiceDep, who: Who) -> s.ReplayOut:
    """Send again now every finished delivery the filter selects (a filter, or all: true).

    An unknown postback_id, or another account's, is a 404.
    """
    started = await service.replay(who, _filter(body), body.everything)
    return s.ReplayOut(replay_id=started.id, queued=started.total)


@v1.get("/replays/{replay_id}", tags=["deliveries"], responses=NOT_FOUND)
async def get_replay(replay_id: str, service: ServiceDep, who: Who) -> s.ReplayProgressOut:
    """How far a replay has got: its deliveries counted by where they are now."""
    return s.ReplayProgressOut.of(await service.replay_progress(who, replay_id))


def _filter(body: s.ReplayIn) -> DeliveryFilter:
    return DeliveryFilter(
        body.postback_id, body.status, body.action_id, body.since, body.until, body.event_id
    )


# -- API keys -----------------------------------------------------------------------------
@v1.get("/accounts/{account_id}/keys", tags=["keys"], responses=NOT_FOUND)
async def list_keys(account_id: str, service: ServiceDep, who: Who) -> list[s.KeyOut]:
    """The account's keys, revoked ones included (an account sees its own; the operator
    any, and its own as ``operator``)."""
    return [s.KeyOut.of(k) for k in await service.list_keys(who, account_id)]


@v1.post("/accounts/{account_id}/keys", status_code=201, tags=["keys"], responses=NOT_FOUND)
async def create_key(account_id: str, service: ServiceDep, who: Who) -> s.KeyOut:
    """A new key for the account; ``key`` is shown here only, never again."""
    record, key = await service.create_key(who, account_id)
    return s.KeyOut.of(record, key)


@v1.delete("/accounts/{account_id}/keys/{key_id}", tags=["keys"], responses=NOT_FOUND)
async def revoke_key(account_id: str, key_id: str, service: ServiceDep, who: Who) -> s.KeyOut:
    """Revoke a key: refused from the next request on, by every API process."""
    return s.KeyOut.of(await service.revoke_key(who, account_id, key_id))
