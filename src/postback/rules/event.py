"""What an incoming event must carry, checked before anything is stored. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from postback.domain.catalogue import ParamType, catalogue_for
from postback.domain.records import Event, EventKind, EventTopic
from postback.errors import Problem, problem
from postback.template.formatting import (
    DATETIME_EXAMPLE,
    MONEY_EXAMPLE,
    MONEY_SHORT,
    BadValue,
    format_datetime,
    format_money,
)

KIND_OF_TOPIC: dict[EventTopic, EventKind] = {
    EventTopic.INQUIRY_CREATED: EventKind.ACTION_INQUIRY,
    EventTopic.INQUIRY_RESOLVED: EventKind.ACTION_INQUIRY,
    EventTopic.CATALOG_ITEM_CHANGED: EventKind.CATALOG_CHANGE,
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
DEFAULT_STATUS: dict[EventTopic, str] = {
    EventTopic.ACTION_TRACKED: "PENDING",
    EventTopic.APP_INSTALL: "PENDING",
    EventTopic.ACTION_REVERSED: "REVERSED",
    EventTopic.ACTION_LOCKED: "APPROVED",
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


def kind_of(topic: EventTopic) -> EventKind:
    return KIND_OF_TOPIC.get(topic, EventKind.ACTION)


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


MAX_ITEMS = 1000  # the default of POSTBACK_MAX_ITEMS
MAX_PROBLEMS = 50  # enough to fix a batch by; a list of thousands helps nobody
INTEGER_TEXT = re.compile(r"-?[0-9]+").fullmatch
BOOLEAN_TEXT = frozenset({"true", "false"})


def check(event: Event, where: str, max_items: int = MAX_ITEMS) -> list[Problem]:
    """Problems with one event's data, each naming the field as ``where.data.Name``
    (``data.Name`` when ``where`` is empty: a lone event).

    Every value whose name is in the event kind's catalogue is checked against its type
    (order-level parameters and every item's fields), so whether an event is accepted
    never depends on which postbacks exist or which parameters their templates use.
    """
    kind = kind_of(event.type)
    out: list[Problem] = []
    sources = SOURCE.get(kind, ())
    if sources and all(event.data.get(name) in (None, "") for name in sources):
        first, *others = sources
        message = f"{event.type} events need {first} (or {', '.join(others)} for a media source)"
        out.append(problem(at(where, f"data.{first}"), "required", message))
    out += [
        problem(at(where, f"data.{name}"), "required", f"{event.type} events need {name}")
        for name in REQUIRED[kind]
        if event.data.get(name) in (None, "")
    ]
    out.extend(_check_types(event.data, kind, where))
    out.extend(_check_items(event.data.get("items"), kind, where, max_items))
    if len(event.id) > MAX_ID_LENGTH or not event.id.strip():
        out.append(problem(at(where, "id"), "invalid", "id must be 1 to 200 characters"))
    return out[:MAX_PROBLEMS]


def _check_items(items: Any, kind: EventKind, where: str, max_items: int) -> list[Problem]:
    field = at(where, "data.items")
    if items is None:
        return []
    if not isinstance(items, list):
        return [problem(field, "invalid", "items must be a list of objects")]
    if len(items) > max_items:
        return [
            problem(
                field,
                "too_many",
                f"an event may carry at most {max_items} items, this one has {len(items)}; "
                "split the order",
            )
        ]
    rules = _typed(kind, items=True)
    out: list[Problem] = []
    for number, item in enumerate(items):
        if item.__class__ is not dict:
            out.append(problem(f"{field}[{number}]", "invalid", "each item must be an object"))
            continue
        out += _check_values(item, rules, f"{field}[{number}].")
        if len(out) >= MAX_PROBLEMS:
            break
    return out


def _check_types(data: dict[str, Any], kind: EventKind, where: str) -> list[Problem]:
    return _check_values(data, _typed(kind, items=False), at(where, "data."))


def _check_values(values: dict[str, Any], rules: dict[str, Rule], prefix: str) -> list[Problem]:
    out: list[Problem] = []
    for name, value in values.items():
        rule = rules.get(name)
        if rule is None or value is None or rule[0](value):
            continue
        out.append(problem(prefix + name, "bad_value", f"{name}: {_shown(value)} {rule[1]}"))
    return out


@cache
def _typed(kind: EventKind, items: bool) -> dict[str, Rule]:
    """The rule of every catalogue name (order level, or item field) whose type has one."""
    catalogue = catalogue_for(kind)
    params = catalogue.item_fields if items else catalogue.parameters
    return {p.name: TYPE_CHECKS[p.type] for p in params if p.type in TYPE_CHECKS}


def _formats(formatter: Callable[[Any], str], value: Any) -> bool:
    try:
        formatter(value)
    except BadValue:
        return False
    return True


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and INTEGER_TEXT(value) is not None


def _is_list(value: Any) -> bool:
    if isinstance(value, str):  # one value: rendered as itself
        return True
    return isinstance(value, list) and not any(isinstance(v, dict | list) for v in value)


def _is_money(value: Any) -> bool:
    # Judged by the formatter that renders it, so an accepted amount always renders.
    if value.__class__ is int or (value.__class__ is str and MONEY_SHORT(value)):
        return True
    return _formats(format_money, value)


def _is_datetime(value: Any) -> bool:
    return _formats(format_datetime, value)


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value in BOOLEAN_TEXT)


Rule = tuple[Callable[[Any], bool], str]  # (is the value of the type, what to write)
TYPE_CHECKS: dict[ParamType, Rule] = {
    ParamType.MONEY: (_is_money, f"is not an amount; {MONEY_EXAMPLE}"),
    ParamType.DATETIME: (_is_datetime, f"is not a date/time; {DATETIME_EXAMPLE}"),
    ParamType.INTEGER: (_is_integer, "is not a whole number; write e.g. 3"),
    ParamType.BOOLEAN: (_is_boolean, "is not a boolean; write true or false"),
    ParamType.LIST: (_is_list, 'is not a list of values; write e.g. ["a", "b"]'),
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
