"""Value formatting (spec section 3): a value to its text, before any escaping.

Each formatter has a fast path for values that are already canonical, checked with a
compiled regular expression, so the common case costs no Decimal or datetime work.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
# "12.50", "-3.00", "0.10": exactly what quantize would give back (ASCII digits only).
MONEY_CANONICAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]{2}").fullmatch
# "2026-11-22T10:15:00-08:00": what datetime.isoformat gives for whole seconds.
DATETIME_CANONICAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\+[0-9]{2}:[0-9]{2}|-(?!00:00)[0-9]{2}:[0-9]{2})"
).fullmatch
MONEY_EXAMPLE = "write e.g. 12.50"
DATETIME_EXAMPLE = "write ISO 8601, e.g. 2026-11-22T10:15:00-08:00"


class BadValue(ValueError):
    """A money or date value that cannot be parsed; the message says what was given."""


def format_any(value: Any) -> str:
    """Text, integer, boolean and list values, and anything else by its text."""
    kind = value.__class__
    if kind is str:
        text: str = value
        return text
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    return _format_other(value)


def _format_other(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(format_any(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, datetime):
        return iso_seconds(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_money(value: Any) -> str:
    """Two decimals, rounded half away from zero; raises BadValue for non-amounts."""
    kind = value.__class__
    if kind is str:
        text: str = value
        return text if MONEY_CANONICAL(text) else _quantize(_parse_decimal(text))
    if kind is int:
        return f"{value}.00"
    if value is None:
        return ""
    if kind is float:
        return _quantize(_parse_decimal(repr(value)))
    if isinstance(value, Decimal):
        return _quantize(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{int(value)}.00"
    raise BadValue(f"{value!r} is not an amount; {MONEY_EXAMPLE}")


def _parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadValue(f"{text!r} is not an amount; {MONEY_EXAMPLE}") from None


def _quantize(amount: Decimal) -> str:
    if not amount.is_finite():
        raise BadValue(f"{str(amount)!r} is not an amount; {MONEY_EXAMPLE}")
    try:
        return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise BadValue(f"{amount} is too large an amount") from None


def format_datetime(value: Any) -> str:
    """ISO 8601 with seconds and an offset (naive or ``Z`` means UTC); raises BadValue."""
    if value.__class__ is str:
        text: str = value
        parsed = _parse_datetime(text)
        return text if DATETIME_CANONICAL(text) else iso_seconds(parsed)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_seconds(value)
    if isinstance(value, date):
        return iso_seconds(datetime.combine(value, time()))
    raise BadValue(f"{value!r} is not a date/time; {DATETIME_EXAMPLE}")


def _parse_datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a date/time; {DATETIME_EXAMPLE}") from None


def iso_seconds(moment: datetime) -> str:
    """``2026-11-22T10:15:00-08:00``: fractional seconds dropped, naive taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0)
    return moment.isoformat()
