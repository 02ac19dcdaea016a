"""The records every layer shares: frozen dataclasses and enums, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from postback.config import Network


class AccountKind(StrEnum):
    OPERATOR = "operator"
    BRAND = "brand"
    PARTNER = "partner"


class PartnerType(StrEnum):
    CASHBACK = "cashback"
    LOYALTY = "loyalty"
    COUPON = "coupon"
    CONTENT = "content"
    CREATOR = "creator"
    MOBILE = "mobile"
    OTHER = "other"


class PostbackKind(StrEnum):
    ACTION_LIFECYCLE = "action_lifecycle"
    ACTION_CLEARING = "action_clearing"
    ACTION_INQUIRY = "action_inquiry"
    CATALOG_CHANGE = "catalog_change"
    PARTNER_INTEGRATION = "partner_integration"
    MEDIA_SOURCE = "media_source"


class EventKind(StrEnum):
    """Which parameter catalogue a postback's templates are checked against."""

    ACTION = "action"
    ACTION_INQUIRY = "action_inquiry"
    CATALOG_CHANGE = "catalog_change"


CATALOGUE_OF_KIND: dict[PostbackKind, EventKind] = {
    PostbackKind.ACTION_LIFECYCLE: EventKind.ACTION,
    PostbackKind.ACTION_CLEARING: EventKind.ACTION,
    PostbackKind.PARTNER_INTEGRATION: EventKind.ACTION,
    PostbackKind.MEDIA_SOURCE: EventKind.ACTION,
    PostbackKind.ACTION_INQUIRY: EventKind.ACTION_INQUIRY,
    PostbackKind.CATALOG_CHANGE: EventKind.CATALOG_CHANGE,
}


class EventTopic(StrEnum):
    ACTION_TRACKED = "action.tracked"
    ACTION_MODIFIED = "action.modified"
    ACTION_REVERSED = "action.reversed"
    ACTION_LOCKED = "action.locked"
    ACTION_CLEARED = "action.cleared"
    APP_INSTALL = "app.install"
    INQUIRY_CREATED = "inquiry.created"
    INQUIRY_RESOLVED = "inquiry.resolved"
    CATALOG_ITEM_CHANGED = "catalog.item_changed"


class EventTrigger(StrEnum):
    """A partner integration postback's Event Trigger: ``always`` fires on every action
    tracked for its event type (the only trigger there is so far)."""

    ALWAYS = "always"


#: Event type categories of a mobile app: only these take installs or an in-app event.
MOBILE_APP_CATEGORIES = frozenset({"app_install", "in_app_event"})


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class BodyFormat(StrEnum):
    JSON = "json"
    XML = "xml"
    QUERY = "query"


CONTENT_TYPE: dict[BodyFormat, str] = {
    BodyFormat.JSON: "application/json; charset=utf-8",
    BodyFormat.XML: "application/xml; charset=utf-8",
    BodyFormat.QUERY: "application/x-www-form-urlencoded",
}


class DeliveryStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"


FINAL_STATUSES = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})


class Resend(StrEnum):
    """What a redelivery sends: the event rendered by the postback as it is now (the same
    delivery, queued again), or a new delivery with the original's stored request."""

    CURRENT = "current"
    AS_SENT = "as_sent"


class FailureReason(StrEnum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    DNS = "dns"
    STATUS = "status"
    SUCCESS_TEXT_MISSING = "success_text_missing"
    ERROR_TEXT_FOUND = "error_text_found"
    BLOCKED_ADDRESS = "blocked_address"
    INVALID_URL = "invalid_url"
    PROTOCOL = "protocol"
    TOO_LARGE = "too_large"  # the rendered request is over POSTBACK_MAX_REQUEST_BYTES
    RENDER_FAILED = "render_failed"  # a value the template could not render
    TEMPLATE = "template"  # the current postback cannot render this event (at a retry)
    INVALID_REQUEST = "invalid_request"  # a header the HTTP client refuses; never retried


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    kind: AccountKind
    partner_type: PartnerType | None
    created_at: datetime
    # Networks this account's postbacks may reach besides the operator's (operator-set).
    allowed_networks: tuple[Network, ...] = ()


@dataclass(frozen=True, slots=True)
class Program:
    id: str
    brand_id: str
    name: str


@dataclass(frozen=True, slots=True)
class EventType:
    """An event type of a program (sale, lead, app install, in-app event)."""

    id: str
    program_id: str
    name: str
    category: str  # sale | lead | app_install | in_app_event


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    partner_id: str
    program_id: str
    event_type_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MediaSource:
    id: str
    brand_id: str
    name: str


@dataclass(frozen=True, slots=True)
class PostbackConfig:
    """What a person writes when saving a postback (validated by the service)."""

    kind: PostbackKind
    url: str
    method: HttpMethod = HttpMethod.GET
    body: str | None = None
    body_format: BodyFormat | None = None
    headers: tuple[tuple[str, str], ...] = ()
    min_delay_seconds: int = 0
    max_requests_per_second: float | None = None
    success_response: str | None = None
    error_response: str | None = None
    enabled: bool = True
    name: str = ""
    # Scope: which events reach it (README.md, How it works).
    partner_id: str | None = None  # partner_integration: the partner
    event_type_id: str | None = None  # partner_integration, media_source: the event type
    media_source_id: str | None = None  # media_source
    include_installs: bool = False  # partner_integration: app installs too
    in_app_event: str | None = None  # partner_integration: one named in-app event
    include_locking: bool = False  # action_lifecycle: action.locked opts in
    trigger: EventTrigger | None = None  # partner_integration: when it fires ("always")
    signing_enabled: bool = True  # Standard Webhooks signature headers on every request
    condition: str | None = None  # CEL; the delivery is created only when it holds


@dataclass(frozen=True, slots=True)
class Postback:
    id: str
    owner_id: str  # the account that configured it (a partner, or a brand)
    config: PostbackConfig
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    disabled_at: datetime | None = None  # when the system disabled it (with the reason)
    version: int = 1  # incremented on every change; deliveries record the one they used


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """A postback's signing secret, and until when a rotated-out one still signs too."""

    postback_id: str
    secret: str
    previous_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Event:
    id: str  # chosen by the producer; unique
    type: EventTopic
    occurred_at: datetime
    data: dict[str, Any]
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """Exactly what is sent: rendered once, when the delivery is created."""

    method: HttpMethod
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    postback_id: str
    owner_id: str
    request: RenderedRequest
    due_at: datetime
    order_key: str  # ActionId / InquiryId / CatalogItemId: delivered in order per postback
    action_id: str | None = None
    failure: str | None = None  # set: stored failed at once with this reason, never sent
    postback_version: int = 1  # the version the request was rendered with


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    postback_id: str
    owner_id: str
    event_id: str
    event_occurred_at: datetime
    request: RenderedRequest
    status: DeliveryStatus
    due_at: datetime
    order_key: str
    action_id: str | None
    attempt_count: int
    created_at: datetime
    updated_at: datetime
    last_error: str | None = None
    attempts: tuple[Attempt, ...] = field(default=())
    postback_version: int = 1  # the version ``request`` was rendered with
    # Set on a delivery made by resending another as sent: the one it copies. Its
    # request is that one's and is never rendered again.
    original_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: str
    number: int  # 1-based over the delivery's whole life
    started_at: datetime
    duration_ms: float
    request: RenderedRequest  # as sent, secrets redacted
    reply: Reply | None
    outcome: str  # "delivered" or a FailureReason
    error: str | None
    postback_version: int | None = None  # the postback's version it was rendered with


@dataclass(frozen=True, slots=True)
class Replay:
    """A replay's progress, counted from the deliveries it queued (those another replay
    has since taken over count there instead)."""

    id: str
    owner_id: str | None  # None: started by the operator
    created_at: datetime
    total: int  # deliveries queued
    waiting: int = 0  # scheduled or being sent
    retrying: int = 0
    delivered: int = 0
    failed: int = 0

    @property
    def sent(self) -> bool:
        """Every delivery has been tried at least once (delivered, failed or retrying)."""
        return self.waiting == 0


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One of an account's API keys, as listed (the key itself is shown once, at creation)."""

    id: str
    account_id: str
    prefix: str | None  # its first characters; None for keys stored before migration 0007
    created_at: datetime
    last_used_at: datetime | None = None  # to the minute: written at most once a minute
    revoked_at: datetime | None = None
