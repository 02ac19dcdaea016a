"""What an incoming event must carry, checked before anything is stored. Pure."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from postback.domain import Event, EventKind, EventType
from postback.template.catalogue import ParamType, catalogue_for

Problem = dict[str, object]

KIND_OF_TYPE: dict[EventType, EventKind] = {
    EventType.INQUIRY_CREATED: EventKind.ACTION_INQUIRY,
    EventType.INQUIRY_RESOLVED: EventKind.ACTION_INQUIRY,
    EventType.CATALOG_ITEM_CHANGED: EventKind.CATALOG_CHANGE,
}
REQUIRED: dict[EventKind, tuple[str, ...]] = {
    EventKind.ACTION: ("CampaignId", "ActionTrackerId", "ActionId"),
    EventKind.ACTION_INQUIRY: ("MediaPartnerId", "InquiryId"),
    EventKind.CATALOG_CHANGE: ("CampaignId", "CatalogItemId", "Operation"),
}
ORDER_KEY: dict[EventKind, str] = {
    EventKind.ACTION: "ActionId",
    EventKind.ACTION_INQUIRY: "InquiryId",
    EventKind.CATALOG_CHANGE: "CatalogItemId",
}
DEFAULT_STATUS: dict[EventType, str] = {
    EventType.ACTION_TRACKED: "PENDING",
    EventType.APP_INSTALL: "PENDING",
    EventType.ACTION_REVERSED: "REVERSED",
    EventType.ACTION_LOCKED: "APPROVED",
}
#: Who an event came through: at least one of these (an action from a media source
#: alone has no partner).
SOURCE: dict[EventKind, tuple[str, ...]] = {
    EventKind.ACTION: ("MediaPartnerId", "MediaSourceId"),
}
MAX_ID_LENGTH = 200


def at(where: str, name: str) -> str:
    """A field's name under ``where`` (``[2].data``, or ``data`` for a lone event)."""
    return f"{where}.{name}" if where else name


def kind_of(event_type: EventType) -> EventKind:
    return KIND_OF_TYPE.get(event_type, EventKind.ACTION)


def order_key(event: Event) -> str:
    """Events about the same action (inquiry, catalog item) are delivered in order."""
    value = event.data.get(ORDER_KEY[kind_of(event.type)])
    return str(value) if value not in (None, "") else f"event:{event.id}"


def with_defaults(event: Event) -> dict[str, Any]:
    """The parameters a template sees: the event's data plus what its type implies."""
    params = dict(event.data)
    status = DEFAULT_STATUS.get(event.type)
    if status is not None:
        params.setdefault("Status", status)
    params.setdefault("EventDate", event.occurred_at)
    return params


def check(event: Event, where: str) -> list[Problem]:
    """Problems with one event's data, each naming the field as ``where.data.Name``
    (``data.Name`` when ``where`` is empty: a lone event)."""
    kind = kind_of(event.type)
    out: list[Problem] = []
    sources = SOURCE.get(kind, ())
    if sources and all(event.data.get(name) in (None, "") for name in sources):
        first, *others = sources
        message = f"{event.type} events need {first} (or {', '.join(others)} for a media source)"
        out.append(_problem(at(where, f"data.{first}"), "required", message))
    out += [
        _problem(at(where, f"data.{name}"), "required", f"{event.type} events need {name}")
        for name in REQUIRED[kind]
        if event.data.get(name) in (None, "")
    ]
    out.extend(_check_types(event.data, kind, where))
    items = event.data.get("items")
    if items is not None and not (
        isinstance(items, list) and all(isinstance(i, dict) for i in items)
    ):
        out.append(_problem(at(where, "data.items"), "invalid", "items must be a list of objects"))
    if len(event.id) > MAX_ID_LENGTH or not event.id.strip():
        out.append(_problem(at(where, "id"), "invalid", "id must be 1 to 200 characters"))
    return out


def _check_types(data: dict[str, Any], kind: EventKind, where: str) -> list[Problem]:
    catalogue = catalogue_for(kind)
    out: list[Problem] = []
    for name, value in data.items():
        param = catalogue.get(name)
        if param is None or value is None:
            continue
        message = _type_problem(param.type, value)
        if message:
            out.append(_problem(at(where, f"data.{name}"), "bad_value", f"{name}: {message}"))
    return out


def _type_problem(kind: ParamType, value: Any) -> str | None:
    if kind is ParamType.MONEY and not _is_money(value):
        return f"{value!r} is not an amount; write e.g. 12.50"
    if kind is ParamType.DATETIME and not _is_datetime(value):
        return f"{value!r} is not a date; write ISO 8601, e.g. 2026-11-22T10:15:00-08:00"
    return None


def _is_money(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False


def _is_datetime(value: Any) -> bool:
    if isinstance(value, datetime):
        return True
    try:
        datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return True


def _problem(field: str, code: str, message: str) -> Problem:
    return {"field": field, "code": code, "position": None, "message": message}
