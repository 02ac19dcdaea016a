"""Value formatting: a value to its text, before any escaping.

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
# "12", "12.5", "12.", "12.50": only zeros to add, PAD[match.lastindex or 0] of them.
MONEY_SHORT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:(\.[0-9]{2})|(\.[0-9])|(\.))?").fullmatch
PAD = (".00", "", "0", "00")
# Whole seconds (group 1), an optional fraction, an optional Z or +HH:MM offset (group 2).
DATETIME_SHAPE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
).fullmatch
CANONICAL_LENGTH = len("2026-11-22T10:15:00-08:00")
# The characters at 4, 7, 10, ..., 22 of a canonical date/time.
SEPARATORS = frozenset({"--T::+:", "--T::-:"})
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
        return format_money_text(value)
    if kind is int:
        return f"{value}.00"
    if value is None:
        return ""
    if kind is float:
        return format_money_text(repr(value))
    return _money_other(value)


def _money_other(value: Any) -> str:
    if isinstance(value, Decimal):
        return _quantize(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{int(value)}.00"
    if isinstance(value, str):  # a str subclass, such as a StrEnum
        return format_money_text(str.__str__(value))
    raise BadValue(f"{value!r} is not an amount; {MONEY_EXAMPLE}")


def format_money_text(text: str) -> str:
    """An amount given as text; only unusual forms go through Decimal."""
    short = MONEY_SHORT(text)
    if short is not None:
        return text + PAD[short.lastindex or 0]
    return _quantize(_parse_decimal(text))


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
        return format_datetime_text(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_seconds(value)
    if isinstance(value, date):
        return iso_seconds(datetime.combine(value, time()))
    if isinstance(value, str):  # a str subclass
        return format_datetime_text(str.__str__(value))
    raise BadValue(f"{value!r} is not a date/time; {DATETIME_EXAMPLE}")


def format_datetime_text(text: str) -> str:
    """A date/time given as text: common shapes are rewritten as text, once validated
    (``datetime.isoformat`` is slow); others are parsed and formatted."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a date/time; {DATETIME_EXAMPLE}") from None
    if len(text) == CANONICAL_LENGTH and text[4:23:3] in SEPARATORS and text[19:] != "-00:00":
        return text  # parsed, so the digits are right; the separators make it canonical
    shape = DATETIME_SHAPE(text)
    if shape is None:
        return iso_seconds(parsed)
    offset = shape[2]
    if offset is None or offset in {"Z", "-00:00"}:
        return shape[1] + "+00:00"
    return text if len(text) == CANONICAL_LENGTH else shape[1] + offset


def iso_seconds(moment: datetime) -> str:
    """``2026-11-22T10:15:00-08:00``: fractional seconds dropped, naive taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0)
    return moment.isoformat()


# -- reading a value as its type, for the typed functions (functions.py) -------------------
INTEGER_TEXT = re.compile(r"-?[0-9]+").fullmatch
INTEGER_EXAMPLE = "write a whole number, e.g. 3"


def read_money(value: Any) -> Decimal | None:
    """An amount as a Decimal (a float as the decimal it is written as); None when missing."""
    kind = value.__class__
    if kind is str:
        amount = _parse_decimal(value)
    elif kind is int:
        return Decimal(value)
    elif value is None:
        return None
    elif kind is float:
        amount = _parse_decimal(repr(value))
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        amount = _parse_decimal(str.__str__(value))
    else:
        raise BadValue(f"{value!r} is not an amount; {MONEY_EXAMPLE}")
    if not amount.is_finite():
        raise BadValue(f"{str(amount)!r} is not an amount; {MONEY_EXAMPLE}")
    return amount


def read_datetime(value: Any) -> datetime | None:
    """A date/time with its offset (naive means UTC); None when missing."""
    if value.__class__ is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise BadValue(f"{value!r} is not a date/time; {DATETIME_EXAMPLE}") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(str.__str__(value))
        except ValueError:
            raise BadValue(f"{value!r} is not a date/time; {DATETIME_EXAMPLE}") from None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        raise BadValue(f"{value!r} is not a date/time; {DATETIME_EXAMPLE}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def read_integer(value: Any) -> int | None:
    """A whole number from an integer or a string of digits; None when missing."""
    if value.__class__ is int:
        number: int = value
        return number
    if value is None:
        return None
    if isinstance(value, str) and INTEGER_TEXT(value) and len(value) <= 100:
        return int(value)
    raise BadValue(f"{value!r} is not a whole number; {INTEGER_EXAMPLE}")


def read_boolean(value: Any) -> bool | None:
    """``true``/``false`` or the strings ``"true"``/``"false"``; None when missing."""
    if value is True or value == "true":
        return True
    if value is False or value == "false":
        return False
    if value is None:
        return None
    raise BadValue(f"{value!r} is not a boolean; write true or false")
