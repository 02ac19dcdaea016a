"""The API's request and response bodies (pydantic), and their mapping to domain records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from postback.delivery.redact import redact, redact_headers
from postback.domain import (
    Account,
    AccountKind,
    ActionTracker,
    Attempt,
    BodyFormat,
    Contract,
    Delivery,
    DeliveryStatus,
    EventType,
    HttpMethod,
    MediaSource,
    PartnerType,
    Postback,
    PostbackKind,
    Program,
    RenderedRequest,
    Reply,
)


def _sane_year(moment: datetime) -> datetime:
    if not 1900 <= moment.year <= 9000:
        raise ValueError("the year must be between 1900 and 9000")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_sane_year)]
"""A date and time with an offset, in a range every database and time zone can hold."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: AccountKind = Field(description="brand or partner")
    partner_type: PartnerType | None = None


class AccountOut(BaseModel):
    id: str
    name: str
    kind: AccountKind
    partner_type: PartnerType | None
    created_at: datetime
    api_key: str | None = Field(None, description="shown once, when the account is created")

    @classmethod
    def of(cls, account: Account, api_key: str | None = None) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            kind=account.kind,
            partner_type=account.partner_type,
            created_at=account.created_at,
            api_key=api_key,
        )


class ProgramIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    brand_id: str | None = Field(None, description="operator only: the brand it belongs to")


class ProgramOut(BaseModel):
    id: str
    brand_id: str
    name: str

    @classmethod
    def of(cls, p: Program) -> ProgramOut:
        return cls(id=p.id, brand_id=p.brand_id, name=p.name)


class EventTypeIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    category: str = Field("sale", pattern="^(sale|lead|app_install|in_app_event)$")


class EventTypeOut(BaseModel):
    id: str
    program_id: str
    name: str
    category: str

    @classmethod
    def of(cls, t: ActionTracker) -> EventTypeOut:
        return cls(id=t.id, program_id=t.program_id, name=t.name, category=t.category)


class ContractIn(Strict):
    partner_id: str
    program_id: str
    event_type_ids: list[str] = Field(default_factory=list)


class ContractOut(BaseModel):
    id: str
    partner_id: str
    program_id: str
    event_type_ids: list[str]
    partner_name: str | None = Field(None, description="for pickers: the partner's name")
    program_name: str | None = Field(None, description="for pickers: the program's name")

    @classmethod
    def of(cls, c: Contract) -> ContractOut:
        return cls(
            id=c.id,
            partner_id=c.partner_id,
            program_id=c.program_id,
            event_type_ids=list(c.event_type_ids),
        )


class MediaSourceIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    brand_id: str | None = Field(None, description="operator only: the brand it belongs to")


class MediaSourceOut(BaseModel):
    id: str
    brand_id: str
    name: str

    @classmethod
    def of(cls, m: MediaSource) -> MediaSourceOut:
        return cls(id=m.id, brand_id=m.brand_id, name=m.name)


class PostbackFields(Strict):
    url: str = Field(max_length=8192)
    method: HttpMethod = HttpMethod.GET
    body: str | None = Field(None, max_length=256 * 1024)
    body_format: BodyFormat | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    min_delay_seconds: int = 0
    max_requests_per_second: float | None = None
    success_response: str | None = Field(None, max_length=1024)
    error_response: str | None = Field(None, max_length=1024)
    enabled: bool = True
    name: str = Field("", max_length=200)
    partner_id: str | None = None
    event_type_id: str | None = None
    media_source_id: str | None = None
    include_installs: bool = False
    in_app_event: str | None = None
    include_locking: bool = False


class PostbackIn(PostbackFields):
    kind: PostbackKind
    owner_id: str | None = Field(None, description="operator only: the account it belongs to")


NULLABLE = frozenset(
    {
        "body",
        "body_format",
        "max_requests_per_second",
        "success_response",
        "error_response",
        "in_app_event",
    }
)


class PostbackPatch(Strict):
    """Every field optional: only those sent are changed; only some may be set to null."""

    url: str | None = Field(None, max_length=8192)
    method: HttpMethod | None = None
    body: str | None = Field(None, max_length=256 * 1024)
    body_format: BodyFormat | None = None
    headers: dict[str, str] | None = None
    min_delay_seconds: int | None = None
    max_requests_per_second: float | None = None
    success_response: str | None = Field(None, max_length=1024)
    error_response: str | None = Field(None, max_length=1024)
    enabled: bool | None = None
    name: str | None = Field(None, max_length=200)
    include_installs: bool | None = None
    in_app_event: str | None = None
    include_locking: bool | None = None


class PostbackOut(PostbackFields):
    id: str
    kind: PostbackKind
    owner_id: str
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None

    @classmethod
    def of(cls, p: Postback) -> PostbackOut:
        c = p.config
        return cls(
            id=p.id,
            kind=c.kind,
            owner_id=p.owner_id,
            created_at=p.created_at,
            updated_at=p.updated_at,
            disabled_reason=p.disabled_reason,
            url=c.url,
            method=c.method,
            body=c.body,
            body_format=c.body_format,
            headers=dict(c.headers),
            min_delay_seconds=c.min_delay_seconds,
            max_requests_per_second=c.max_requests_per_second,
            success_response=c.success_response,
            error_response=c.error_response,
            enabled=c.enabled,
            name=c.name,
            partner_id=c.partner_id,
            event_type_id=c.event_type_id,
            media_source_id=c.media_source_id,
            include_installs=c.include_installs,
            in_app_event=c.in_app_event,
            include_locking=c.include_locking,
        )


class EventIn(Strict):
    id: str = Field(min_length=1, max_length=200, description="unique, chosen by the producer")
    type: EventType
    occurred_at: Moment
    data: dict[str, Any] = Field(default_factory=dict)


class IngestedEvent(BaseModel):
    id: str
    duplicate: bool
    deliveries: int


class IngestOut(BaseModel):
    events: list[IngestedEvent]
    deliveries: int = Field(description="deliveries created by this call (duplicates count theirs)")


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
            attempts=[AttemptOut.of(a) for a in d.attempts] if with_attempts else None,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class PreviewIn(Strict):
    event: EventIn | None = Field(None, description="render for this event; omit for a sample")
    event_id: str | None = Field(None, description="render for a stored event")


class PreviewOut(BaseModel):
    request: RequestOut
    params: dict[str, Any]
    warnings: list[str]


class ReplayIn(Strict):
    postback_id: str | None = None
    status: DeliveryStatus | None = None
    action_id: str | None = None
    since: Moment | None = None
    until: Moment | None = None


class ReplayOut(BaseModel):
    replayed: int


class ParameterOut(BaseModel):
    name: str
    type: str
    description: str


class CatalogueOut(BaseModel):
    kind: str
    parameters: list[ParameterOut]
    item_fields: list[ParameterOut]


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


class NoticeOut(BaseModel):
    id: str
    created_at: datetime
    message: str


class SampleEventIn(Strict):
    type: EventType | None = Field(None, description="omit for the kind's commonest type")
    data: dict[str, Any] | None = Field(None, description="omit for a realistic sample")


class ConfigurationIn(Strict):
    """An unsaved postback (the body of POST /v1/postbacks) and the event to render."""

    postback: PostbackIn
    event: SampleEventIn | None = None


class SampleEventOut(BaseModel):
    type: EventType
    data: dict[str, Any]


class ConfigPreviewOut(BaseModel):
    request: RequestOut | None = Field(description="null while a template is at fault")
    problems: list[Problem] = Field(description="what saving would refuse, as a 422 lists it")
    warnings: list[Problem] = Field(description="allowed, but probably not meant")
    event: SampleEventOut


class ConfigTestOut(TestOut):
    warnings: list[Problem]


class InfoOut(BaseModel):
    inbox_enabled: bool = Field(description="whether /inbox/{name} records requests")
