"""The API's request and response bodies (pydantic), and their mapping to domain records."""

from __future__ import annotations

import dataclasses
import ipaddress
import typing
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from postback.delivery.redact import redact, redact_headers
from postback.domain.records import (
    Account,
    AccountKind,
    Attempt,
    Delivery,
    DeliveryStatus,
    EventTopic,
    HttpMethod,
    PartnerType,
    Postback,
    PostbackConfig,
    PostbackKind,
    RenderedRequest,
    Reply,
    Resend,
    SigningSecret,
)
from postback.storage.interfaces import IngestResult

if TYPE_CHECKING:
    from postback.service.usecases import TestSend


def _sane_year(moment: datetime) -> datetime:
    if not 1900 <= moment.year <= 9000:
        raise ValueError("the year must be between 1900 and 9000")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_sane_year)]
"""A date and time with an offset, in a range every database and time zone can hold."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Shown(BaseModel):
    """A response showing a record's attributes under the same names (the model's list)."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, record: object) -> Self:
        return cls.model_validate(record)


def _cidrs(values: list[str]) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{value!r} is not a network; write a CIDR like 10.1.0.0/16") from None
    return out


Networks = Annotated[list[str], Field(max_length=100), AfterValidator(_cidrs)]
"""Networks (CIDRs) an account's postbacks may reach besides the operator's."""


class AccountIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: AccountKind = Field(description="brand or partner")
    partner_type: PartnerType | None = None
    allowed_networks: Networks = Field(
        default_factory=list,
        description="networks (CIDRs) this account's postbacks may reach besides those of "
        "POSTBACK_ALLOWED_NETWORKS, e.g. a partner's internal range",
    )


class AccountPatch(Strict):
    allowed_networks: Networks = Field(
        description="replaces the account's allowed networks; [] removes them"
    )


class AccountOut(BaseModel):
    id: str
    name: str
    kind: AccountKind
    partner_type: PartnerType | None
    created_at: datetime
    api_key: str | None = Field(None, description="shown once, when the account is created")
    allowed_networks: list[str] = Field(
        default_factory=list, description="set by the operator; see AccountIn"
    )

    @classmethod
    def of(cls, account: Account, api_key: str | None = None) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            kind=account.kind,
            partner_type=account.partner_type,
            created_at=account.created_at,
            api_key=api_key,
            allowed_networks=[str(n) for n in account.allowed_networks],
        )


class PartnerOut(BaseModel):
    """A partner as the directory shows it to brands: who to name in a contract."""

    id: str
    name: str
    partner_type: PartnerType | None

    @classmethod
    def of(cls, account: Account) -> PartnerOut:
        return cls(id=account.id, name=account.name, partner_type=account.partner_type)


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None


class ProgramIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    brand_id: str | None = Field(None, description="operator only: the brand it belongs to")


class ProgramOut(Shown):
    id: str
    brand_id: str
    name: str


class EventTypeIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    category: str = Field("sale", pattern="^(sale|lead|app_install|in_app_event)$")


class EventTypeOut(Shown):
    id: str
    program_id: str
    name: str
    category: str


class ContractIn(Strict):
    partner_id: str
    program_id: str
    event_type_ids: list[str] = Field(default_factory=list)


class ContractOut(Shown):
    id: str
    partner_id: str
    program_id: str
    event_type_ids: list[str]
    partner_name: str | None = Field(None, description="for pickers: the partner's name")
    program_name: str | None = Field(None, description="for pickers: the program's name")
    brand_name: str | None = Field(None, description="the name of the program's brand")


class MediaSourceIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    brand_id: str | None = Field(None, description="operator only: the brand it belongs to")


class MediaSourceOut(Shown):
    id: str
    brand_id: str
    name: str


#: What the API checks of a postback's configuration field beyond its type, and what it
#: says of it. The fields themselves are PostbackConfig's: one not named here is taken
#: as the dataclass declares it.
FIELD_RULES: dict[str, FieldInfo] = {
    "url": Field(max_length=8192),
    "body": Field(max_length=256 * 1024),
    "headers": Field(description="header name → value; each value is a template"),
    "success_response": Field(max_length=1024),
    "error_response": Field(max_length=1024),
    "name": Field(max_length=200),
    "trigger": Field(
        description="partner_integration: the Event Trigger; always (the default) fires on "
        "every action tracked for the event type",
    ),
    "signing_enabled": Field(
        description="sign every request (Standard Webhooks headers); off for a "
        "receiver that rejects unknown headers",
    ),
    "condition": Field(
        max_length=4096, description="CEL; a delivery is created only when it is true"
    ),
}
#: Where the API's shape differs from the record's (headers: an object, not pairs).
API_TYPES: dict[str, Any] = {"headers": dict[str, str]}
#: Chosen when the postback is created and never changed: a patch cannot name them.
FIXED = frozenset({"kind", "partner_id", "event_type_id", "media_source_id"})
#: Fields a patch may set back to null (the others are left out to keep them).
NULLABLE = frozenset(
    {
        "body",
        "body_format",
        "max_requests_per_second",
        "success_response",
        "error_response",
        "in_app_event",
        "condition",
    }
)


def _config_model(name: str, patch: bool) -> type[Strict]:
    """A model of PostbackConfig's fields but ``kind``: as created, or (``patch``) each
    optional and the fixed ones left out."""
    hints = typing.get_type_hints(PostbackConfig)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(PostbackConfig):
        if f.name == "kind" or (patch and f.name in FIXED):
            continue
        annotation = API_TYPES.get(f.name, hints[f.name])
        rules = FIELD_RULES.get(f.name, Field())
        if patch:
            fields[f.name] = (Annotated[annotation | None, rules], None)
            continue
        if f.name in API_TYPES:  # an empty one of the API's type
            default: Any = Field(default_factory=annotation)
        else:
            default = ... if f.default is dataclasses.MISSING else f.default
        fields[f.name] = (Annotated[annotation, rules], default)
    return create_model(name, __base__=Strict, **fields)


PostbackFields = _config_model("PostbackFields", patch=False)


class PostbackIn(PostbackFields):  # type: ignore[misc,valid-type]
    kind: PostbackKind
    owner_id: str | None = Field(None, description="operator only: the account it belongs to")


class PostbackPatch(_config_model("PostbackPatchFields", patch=True)):  # type: ignore[misc]
    """Every field optional: only those sent are changed; only some may be set to null."""


class PostbackOut(PostbackFields):  # type: ignore[misc,valid-type]
    id: str
    kind: PostbackKind
    owner_id: str
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = Field(
        description="why the system disabled it (enabled is then false); enabling clears it"
    )
    disabled_at: datetime | None = Field(description="when the system disabled it")
    version: int = Field(description="incremented on every change; deliveries name theirs")

    @classmethod
    def of(cls, p: Postback) -> PostbackOut:
        c = p.config
        return cls(
            id=p.id,
            version=p.version,
            kind=c.kind,
            owner_id=p.owner_id,
            created_at=p.created_at,
            updated_at=p.updated_at,
            disabled_reason=p.disabled_reason,
            disabled_at=p.disabled_at,
            **_config_fields(p),
        )


def _config_fields(p: Postback) -> dict[str, Any]:
    """Every configuration field as the API shows it (one list: PostbackConfig's)."""
    c = p.config
    out = {f.name: getattr(c, f.name) for f in dataclasses.fields(c) if f.name != "kind"}
    out["headers"] = dict(c.headers)
    out["enabled"] = c.enabled and p.disabled_reason is None
    return out


class SecretOut(BaseModel):
    """A postback's signing secret (Standard Webhooks, ``whsec_...``)."""

    postback_id: str
    secret: str
    previous_secret_expires_at: datetime | None = Field(
        None, description="until then the rotated-out secret also signs every request"
    )

    @classmethod
    def of(cls, s: SigningSecret) -> SecretOut:
        return cls(
            postback_id=s.postback_id,
            secret=s.secret,
            previous_secret_expires_at=s.previous_expires_at,
        )


class RotateIn(Strict):
    keep_old_seconds: int | None = Field(
        None,
        ge=0,
        le=30 * 24 * 3600,
        description="how long the old secret keeps signing too (default: the "
        "POSTBACK_SECRET_OVERLAP_SECONDS setting, 24 h)",
    )


class EventIn(Strict):
    id: str = Field(min_length=1, max_length=200, description="unique, chosen by the producer")
    type: EventTopic
    occurred_at: Moment
    data: dict[str, Any] = Field(default_factory=dict)


class OriginalEvent(BaseModel):
    """The event first stored under a repeated id."""

    id: str
    received_at: datetime
    deliveries: int = Field(description="deliveries it created")


class IngestedEvent(BaseModel):
    id: str
    duplicate: bool
    deliveries: int = Field(description="deliveries created by this call (0 for a duplicate)")
    original: OriginalEvent | None = Field(None, description="for a duplicate: the first one")

    @classmethod
    def of(cls, r: IngestResult) -> IngestedEvent:
        original = None
        if r.duplicate and r.original_received_at is not None:
            original = OriginalEvent(
                id=r.event_id,
                received_at=r.original_received_at,
                deliveries=r.original_deliveries or 0,
            )
        return cls(id=r.event_id, duplicate=r.duplicate, deliveries=r.deliveries, original=original)


class IngestOut(BaseModel):
    events: list[IngestedEvent]
    deliveries: int = Field(description="deliveries created by this call (duplicates create none)")


class RequestOut(BaseModel):
    method: HttpMethod
    url: str
    headers: list[tuple[str, str]]
    body: str | None

    @classmethod
    def of(cls, r: RenderedRequest) -> RequestOut:
        return cls(method=r.method, url=r.url, headers=list(r.headers), body=r.body)


class ReplyOut(BaseModel):
    status: int
    headers: list[tuple[str, str]]
    body: str
    truncated: bool

    @classmethod
    def of(cls, reply: Reply) -> ReplyOut:
        return cls(
            status=reply.status,
            headers=list(redact_headers(reply.headers)),
            body=reply.body.decode("utf-8", "replace"),
            truncated=reply.truncated,
        )


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: float
    request: RequestOut
    reply: ReplyOut | None
    outcome: str
    error: str | None
    postback_version: int | None = Field(
        None, description="the postback's version the request was rendered with"
    )

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        reply = ReplyOut.of(a.reply) if a.reply is not None else None
        return cls(
            number=a.number,
            started_at=a.started_at,
            duration_ms=a.duration_ms,
            request=RequestOut.of(a.request),
            reply=reply,
            outcome=a.outcome,
            error=a.error,
            postback_version=a.postback_version,
        )


class DeliveryOut(BaseModel):
    id: str
    postback_id: str
    event_id: str
    status: DeliveryStatus
    due_at: datetime
    action_id: str | None
    attempt_count: int
    created_at: datetime
    updated_at: datetime
    last_error: str | None
    request: RequestOut
    postback_version: int = Field(
        description="the postback's version ``request`` was rendered with; a retry after "
        "the postback changed renders it again"
    )
    original_id: str | None = Field(
        None,
        description="set on a delivery made by redelivering another with request as_sent: "
        "the delivery whose request it sends, as it was sent",
    )
    attempts: list[AttemptOut] | None = None

    @classmethod
    def of(cls, d: Delivery, with_attempts: bool = False) -> DeliveryOut:
        return cls(
            id=d.id,
            postback_id=d.postback_id,
            event_id=d.event_id,
            status=d.status,
            due_at=d.due_at,
            action_id=d.action_id,
            attempt_count=d.attempt_count,
            created_at=d.created_at,
            updated_at=d.updated_at,
            last_error=d.last_error,
            request=RequestOut.of(redact(d.request)),
            postback_version=d.postback_version,
            original_id=d.original_id,
            attempts=[AttemptOut.of(a) for a in d.attempts] if with_attempts else None,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class RedeliverIn(Strict):
    request: Resend = Field(
        Resend.CURRENT,
        description="current (the default): the same delivery, queued again, its event "
        "rendered by the postback as it is now; as_sent: a new delivery, linked by "
        "original_id, that sends the original's stored request as it is (URL, method, "
        "headers, body), signed afresh for its own id and time",
    )


class PreviewIn(Strict):
    event: EventIn | None = Field(None, description="render for this event; omit for a sample")
    event_id: str | None = Field(None, description="render for a stored event")


class ConditionOut(BaseModel):
    """Whether the postback's condition holds for the event; if not, why."""

    holds: bool = Field(description="true: a delivery would be created for this event")
    error: str | None = Field(None, description="why it could not be evaluated (no delivery)")


class PreviewOut(BaseModel):
    request: RequestOut
    params: dict[str, Any]
    warnings: list[str]
    condition: ConditionOut | None = Field(None, description="null: the postback has none")


class ReplayIn(Strict):
    postback_id: str | None = None
    status: DeliveryStatus | None = None
    action_id: str | None = None
    since: Moment | None = None
    until: Moment | None = None
    event_id: str | None = None
    everything: bool = Field(
        False, alias="all", description="with no filter: replay every finished delivery"
    )


class ReplayOut(BaseModel):
    replay_id: str = Field(description="read its progress at GET /v1/replays/{replay_id}")
    queued: int = Field(description="finished deliveries queued to be sent again now")


class ReplayProgressOut(Shown):
    """Where a replay's deliveries are now (those a later replay took over count there)."""

    id: str
    total: int = Field(description="deliveries the replay queued")
    waiting: int = Field(description="not yet sent")
    retrying: int = Field(description="sent, failed, and to be tried again")
    delivered: int
    failed: int
    created_at: datetime


class ParameterOut(BaseModel):
    name: str
    type: str
    description: str


class FunctionOut(BaseModel):
    """A template function: ``{Name|usage}``, the value it takes, what it gives."""

    name: str
    usage: str
    takes: str
    gives: str
    description: str
    example: str | None  # on a parameter of this kind; null when none can take it
    example_result: str | None  # the example rendered for the kind's sample event


class CatalogueOut(BaseModel):
    kind: str
    parameters: list[ParameterOut]
    item_fields: list[ParameterOut]
    functions: list[FunctionOut]


class Problem(BaseModel):
    field: str
    code: str
    position: int | None
    message: str


class ProblemOut(BaseModel):
    detail: list[Problem]


class MessageOut(BaseModel):
    detail: str


class TestOut(BaseModel):
    request: RequestOut
    reply: ReplyOut | None
    delivered: bool
    reason: str | None
    detail: str | None
    duration_ms: float
    condition: ConditionOut | None = Field(
        None, description="sent anyway; false or an error: ingest would create no delivery"
    )

    @classmethod
    def of(cls, result: TestSend) -> TestOut:
        sent, verdict = result.sent, result.verdict
        return cls(
            request=RequestOut.of(result.request),
            reply=ReplyOut.of(sent.reply) if sent.reply is not None else None,
            delivered=verdict.delivered,
            reason=None if verdict.reason is None else str(verdict.reason),
            detail=sent.error or verdict.detail,
            duration_ms=sent.duration_ms,
        )


class NoticeOut(BaseModel):
    id: str
    created_at: datetime
    message: str


class KeyOut(Shown):
    id: str
    prefix: str | None = Field(description="the key's first characters, to recognise it by")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    revoked_at: datetime | None
    key: str | None = Field(None, description="the key itself: shown once, when created")

    @classmethod
    def of(cls, record: object, key: str | None = None) -> Self:
        return super().of(record).model_copy(update={"key": key})


class SampleEventIn(Strict):
    type: EventTopic | None = Field(None, description="omit for the kind's commonest type")
    data: dict[str, Any] | None = Field(None, description="omit for a realistic sample")


class ConfigurationIn(Strict):
    """An unsaved postback (the body of POST /v1/postbacks) and the event to render."""

    postback: PostbackIn
    event: SampleEventIn | None = None


class SampleEventOut(BaseModel):
    type: EventTopic
    data: dict[str, Any]


class ConfigPreviewOut(BaseModel):
    request: RequestOut | None = Field(description="null while a template is at fault")
    problems: list[Problem] = Field(description="what saving would refuse, as a 422 lists it")
    warnings: list[Problem] = Field(description="allowed, but probably not meant")
    event: SampleEventOut
    condition: ConditionOut | None = Field(
        None, description="whether the condition holds for the event; null: none, or at fault"
    )


class ConfigTestOut(TestOut):
    warnings: list[Problem]


class InfoOut(BaseModel):
    inbox_enabled: bool = Field(description="whether /inbox/{name} records requests")
