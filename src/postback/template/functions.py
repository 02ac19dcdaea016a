"""The template functions (``{Name|f(args)|g}``): one definition each, used everywhere.

A :class:`Function` says what it takes (a value type, or any value formatted as text
first), what it gives, its arguments and how to build its step. Building happens once,
at compile time: arguments are validated and turned into ready objects (a zone, a date
pattern, a lookup table), so a step at render time is one small Python call on a
value, and a chain is a tuple of such steps (see ``render.chain_converter``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from postback.domain.catalogue import ParamType
from postback.template.escaping import utf8
from postback.template.formatting import (
    CENT,
    BadValue,
    format_any,
    format_datetime,
    format_money,
    read_boolean,
    read_datetime,
    read_integer,
    read_money,
)

Arg = str | int
Read = Callable[[Any], Any]
Step = Callable[[Any], Any]
Build = Callable[[tuple[Arg, ...], Read], Step]
Validate = Callable[[tuple[Arg, ...]], str | None]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND, MILLISECOND = timedelta(seconds=1), timedelta(milliseconds=1)
MAX_PLACES = 6


class ArgKind(StrEnum):
    """What an argument is written as: a quoted string or an integer."""

    STRING = "string"
    INTEGER = "integer"


STR, INT = ArgKind.STRING, ArgKind.INTEGER
ANYTHING = "anything"
TYPE_WORDS = {
    ParamType.MONEY: "money",
    ParamType.DATETIME: "date/time",
    ParamType.INTEGER: "integer",
    ParamType.BOOLEAN: "boolean",
    ParamType.TEXT: "text",
    ParamType.LIST: "list",
}


@dataclass(frozen=True, slots=True)
class Function:
    """One template function: its signature, its types, its implementation and its docs.

    ``takes`` is None for a text function (any value, formatted by the language's rules
    first); otherwise the value types it works on. ``args`` are the argument kinds in
    order, the first ``required`` of them needed; with ``repeat`` the last kind may
    repeat without limit.
    """

    name: str
    usage: str
    args: tuple[ArgKind, ...]
    required: int
    takes: frozenset[ParamType] | None
    gives: ParamType
    build: Build
    description: str
    example_parameter: str
    example_chain: str
    validate: Validate | None = None
    repeat: bool = False

    @property
    def takes_text(self) -> str:
        """What it takes, in words: ``date/time``, ``money or integer``, ``anything``."""
        if self.takes is None:
            return ANYTHING
        return " or ".join(TYPE_WORDS[t] for t in ParamType if t in self.takes)

    @property
    def gives_text(self) -> str:
        """What it gives, in words."""
        return TYPE_WORDS[self.gives]

    def arguments_problem(self, args: tuple[Arg, ...]) -> str | None:
        """Why these arguments do not fit (for ``bad_arguments``), or None."""
        count = len(args)
        if count < self.required or (not self.repeat and count > len(self.args)):
            return f"{self.name} is written {self.usage}, not with {_count(count)}"
        for index, arg in enumerate(args):
            want = self.args[min(index, len(self.args) - 1)]
            if isinstance(arg, int) != (want is INT):
                shown = f'"{arg}"' if isinstance(arg, str) else str(arg)
                return (
                    f"argument {index + 1} of {self.name} is {shown}, but must be "
                    f"{'an integer' if want is INT else 'a quoted string'}: {self.usage}"
                )
        return None if self.validate is None else self.validate(args)

    def step(self, args: tuple[Arg, ...], kind: ParamType) -> Step:
        """The render step for these (checked) arguments on a value of type ``kind``."""
        if self.takes is None:
            step = self.build(args, format_any)
            before = TEXT_OF.get(kind)  # money and dates format by their own rules first
            return step if before is None else lambda value: step(before(value))
        return self.build(args, READERS[kind])


def _count(count: int) -> str:
    return "no arguments" if count == 0 else f"{count} argument{'s' * (count != 1)}"


# Typed functions read the value itself; text functions format it first.
READERS: dict[ParamType, Read] = {
    ParamType.MONEY: read_money,
    ParamType.DATETIME: read_datetime,
    ParamType.INTEGER: read_integer,
    ParamType.BOOLEAN: read_boolean,
}
TEXT_OF: dict[ParamType, Read] = {
    ParamType.MONEY: format_money,
    ParamType.DATETIME: format_datetime,
}


# -- date / time --------------------------------------------------------------------
DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)
# %-format fields (str.format with attribute fields is several times slower).
DATE_FIELDS = {
    "Y": "%(Y)04d",
    "m": "%(m)02d",
    "d": "%(d)02d",
    "H": "%(H)02d",
    "M": "%(M)02d",
    "S": "%(S)02d",
    "y": "%(y)02d",
    "j": "%(j)03d",
    "z": "%(z)s",
    "%": "%%",
}
DATE_ATTRIBUTES = {"Y": "year", "m": "month", "d": "day", "H": "hour", "M": "minute", "S": "second"}
NAMED_FIELD = re.compile(r"%\((\w)\)")
DIRECTIVES_TEXT = "%Y %m %d %H %M %S %y %j %z %%"


def _date_pattern(fmt: str) -> str | None:
    """FORMAT as a ``%``-format pattern; None when it has a directive not in the table."""
    pieces: list[str] = []
    last = 0
    for found in DIRECTIVE.finditer(fmt):
        field = DATE_FIELDS.get(found.group(1))
        if field is None:
            return None
        pieces += [fmt[last : found.start()], field]
        last = found.end()
    pieces.append(fmt[last:])
    return "".join(pieces)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _date_problem(args: tuple[Arg, ...]) -> str | None:
    if _date_pattern(str(args[0])) is None:
        bad = [m.group() for m in DIRECTIVE.finditer(str(args[0])) if m.group(1) not in DATE_FIELDS]
        return f"date FORMAT has {bad[0]!r}; it may use {DIRECTIVES_TEXT} (write %% for a %)"
    if len(args) > 1 and args[1] not in _zones():
        return f"unknown time zone {args[1]!r}; use an IANA name such as America/New_York or UTC"
    return None


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    seconds = 0 if offset is None else int(offset.total_seconds())
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{'-' if seconds < 0 else '+'}{hours:02d}{minutes:02d}"


def _date(args: tuple[Arg, ...], read: Read) -> Step:
    pattern = str(_date_pattern(str(args[0])))
    moment_of = _zoned(read, ZoneInfo(str(args[1])) if len(args) > 1 else None)
    names = NAMED_FIELD.findall(pattern)
    if not set(names) & set("yjz"):  # fields straight from the datetime: one C call
        positional = NAMED_FIELD.sub("%", pattern)
        fields = attrgetter(*[DATE_ATTRIBUTES[n] for n in names]) if names else None
        return _date_fields(positional, fields, len(names) == 1, moment_of)

    def date(value: Any) -> str | None:
        moment: datetime | None = moment_of(value)
        if moment is None:
            return None
        fields = {
            "Y": moment.year,
            "m": moment.month,
            "d": moment.day,
            "H": moment.hour,
            "M": moment.minute,
            "S": moment.second,
            "y": moment.year % 100,
            "j": moment.toordinal() - moment.replace(month=1, day=1).toordinal() + 1,
            "z": _offset(moment),
        }
        return pattern % fields

    return date


def _zoned(read: Read, zone: ZoneInfo | None) -> Read:
    """``read``, then (given a zone) the moment on the zone's clock."""
    if zone is None:
        return read

    def moment_in(value: Any) -> datetime | None:
        moment: datetime | None = read(value)
        return None if moment is None else _in_zone(moment, zone)

    return moment_in


def _in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    """The moment on the zone's clock (``bad_value`` past the end of the calendar)."""
    try:
        return moment.astimezone(zone)
    except OverflowError:  # 9999-12-31 moved past the end of the calendar
        raise BadValue(f"{moment.isoformat()} is out of range in {zone.key}") from None


def _date_fields(
    pattern: str,
    fields: Callable[[datetime], Any] | None,
    single: bool,
    moment_of: Read,
) -> Step:
    """``date`` when FORMAT uses only %Y %m %d %H %M %S: ``pattern % attrgetter(moment)``."""

    def date(value: Any) -> str | None:
        moment: datetime | None = moment_of(value)
        if moment is None:
            return None
        if fields is None:
            return pattern % ()
        return pattern % ((fields(moment),) if single else fields(moment))

    return date


def _since_epoch(unit: timedelta) -> Build:
    def build(args: tuple[Arg, ...], read: Read) -> Step:
        def since(value: Any) -> int | None:
            moment: datetime | None = read(value)
            return None if moment is None else (moment - EPOCH) // unit  # floor: toward the past

        return since

    return build


# -- numbers and booleans -------------------------------------------------------------
def _places_problem(args: tuple[Arg, ...]) -> str | None:
    places = int(args[0])
    if 0 <= places <= MAX_PLACES:
        return None
    return f"number takes 0 to {MAX_PLACES} decimal places, not {places}"


def _quantize(amount: Decimal, step: Decimal) -> Decimal:
    try:
        return amount.quantize(step, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise BadValue(f"{amount} is too large a number") from None


def _number(args: tuple[Arg, ...], read: Read) -> Step:
    step = Decimal(1).scaleb(-int(args[0]))

    def number(value: Any) -> str | None:
        amount = read(value)
        return None if amount is None else str(_quantize(Decimal(amount), step))

    return number


def _cents(args: tuple[Arg, ...], read: Read) -> Step:
    def cents(value: Any) -> int | None:
        amount: Decimal | None = read(value)
        return None if amount is None else int(_quantize(amount, CENT).scaleb(2))

    return cents


def _bool(args: tuple[Arg, ...], read: Read) -> Step:
    yes, no = str(args[0]), str(args[1])

    def boolean(value: Any) -> str | None:
        flag = read(value)
        return None if flag is None else yes if flag else no

    return boolean


# -- text -----------------------------------------------------------------------------
# A text step gets ``read`` = format_any (see Function.step), so a str is already its text.
def _default(args: tuple[Arg, ...], read: Read) -> Step:
    fallback = str(args[0])
    return lambda value: (value if value.__class__ is str else read(value)) or fallback


def _text_method(method: Callable[[str], str]) -> Build:
    def build(args: tuple[Arg, ...], read: Read) -> Step:
        return lambda value: method(value if value.__class__ is str else read(value))

    return build


def _truncate_problem(args: tuple[Arg, ...]) -> str | None:
    return None if int(args[0]) >= 0 else f"truncate takes N >= 0, not {args[0]}"


def _truncate(args: tuple[Arg, ...], read: Read) -> Step:
    length = int(args[0])
    return lambda value: (value if value.__class__ is str else read(value))[:length]


def _digest(name: str) -> Build:
    def build(args: tuple[Arg, ...], read: Read) -> Step:
        new = getattr(hashlib, name)

        def digest(value: Any) -> str:
            text: str = value if value.__class__ is str else read(value)
            return new(utf8(text)).hexdigest() if text else ""  # a missing value is not hashed

        return digest

    return build


def _base64(args: tuple[Arg, ...], read: Read) -> Step:
    def encode(value: Any) -> str:
        text: str = value if value.__class__ is str else read(value)
        return base64.b64encode(utf8(text)).decode("ascii") if text else ""

    return encode


def _map(args: tuple[Arg, ...], read: Read) -> Step:
    pairs = [str(a) for a in args]
    fallback = pairs.pop() if len(pairs) % 2 else None
    table: dict[str, str] = {}
    for key, mapped in zip(pairs[::2], pairs[1::2], strict=True):
        table.setdefault(key, mapped)  # the first K that matches wins
    get = table.get

    def passing(value: Any) -> str:
        text: str = value if value.__class__ is str else read(value)
        return get(text, text)

    if fallback is None:
        return passing
    return lambda value: get(value if value.__class__ is str else read(value), fallback)


def _raw(args: tuple[Arg, ...], read: Read) -> Step:
    return read  # the formatted text; the renderer skips the context's escaping after it


RAW = "raw"

FUNCTION_LIST: tuple[Function, ...] = (
    Function(
        "date", 'date("FORMAT") or date("FORMAT", "ZONE")', (STR, STR), 1,
        frozenset({ParamType.DATETIME}), ParamType.TEXT, _date,
        f"The date/time written with FORMAT ({DIRECTIVES_TEXT}), in ZONE (an IANA name) "
        "or else in its own offset",
        "EventDate", '|date("%Y-%m-%d %H:%M", "Europe/Berlin")',
        _date_problem,
    ),
    Function(
        "unix", "unix", (), 0, frozenset({ParamType.DATETIME}), ParamType.INTEGER,
        _since_epoch(SECOND), "Whole seconds since 1970-01-01T00:00:00Z",
        "EventDate", '|unix',
    ),
    Function(
        "unix_ms", "unix_ms", (), 0, frozenset({ParamType.DATETIME}), ParamType.INTEGER,
        _since_epoch(MILLISECOND), "Whole milliseconds since 1970-01-01T00:00:00Z",
        "EventDate", '|unix_ms',
    ),
    Function(
        "number", "number(N)", (INT,), 1,
        frozenset({ParamType.MONEY, ParamType.INTEGER}), ParamType.TEXT, _number,
        f"The number with N decimal places (0 to {MAX_PLACES}), rounded half away from zero",
        "Payout", '|number(0)', _places_problem,
    ),
    Function(
        "cents", "cents", (), 0, frozenset({ParamType.MONEY}), ParamType.INTEGER, _cents,
        "The amount times 100, rounded half away from zero", "Payout", '|cents',
    ),
    Function(
        "bool", 'bool("T", "F")', (STR, STR), 2, frozenset({ParamType.BOOLEAN}),
        ParamType.TEXT, _bool, "T for true, F for false",
        "iosAdTracking", '|bool("1", "0")',
    ),
    Function(
        "default", 'default("X")', (STR,), 1, None, ParamType.TEXT, _default,
        "X when the value is missing or empty, else the value",
        "SubId3", '|default("none")',
    ),
    Function(
        "upper", "upper", (), 0, None, ParamType.TEXT, _text_method(str.upper),
        "The text in upper case", "Status", '|upper',
    ),
    Function(
        "lower", "lower", (), 0, None, ParamType.TEXT, _text_method(str.lower),
        "The text in lower case", "Status", '|lower',
    ),
    Function(
        "trim", "trim", (), 0, None, ParamType.TEXT, _text_method(str.strip),
        "The text without leading and trailing white space", "Note", '|trim',
    ),
    Function(
        "truncate", "truncate(N)", (INT,), 1, None, ParamType.TEXT, _truncate,
        "The first N characters", "CampaignName", '|truncate(7)', _truncate_problem,
    ),
    Function(
        "md5", "md5", (), 0, None, ParamType.TEXT, _digest("md5"),
        "Lower-case hex MD5 of the text's UTF-8 bytes; empty stays empty",
        "Status", '|md5',
    ),
    Function(
        "sha1", "sha1", (), 0, None, ParamType.TEXT, _digest("sha1"),
        "Lower-case hex SHA-1 of the text's UTF-8 bytes; empty stays empty",
        "Status", '|sha1',
    ),
    Function(
        "sha256", "sha256", (), 0, None, ParamType.TEXT, _digest("sha256"),
        "Lower-case hex SHA-256 of the text's UTF-8 bytes; empty stays empty",
        "Text1", '|trim|lower|sha256',
    ),
    Function(
        "base64", "base64", (), 0, None, ParamType.TEXT, _base64,
        "Standard Base64 (with padding) of the text's UTF-8 bytes; empty stays empty",
        "Status", '|base64',
    ),
    Function(
        "map", 'map("K1", "V1", "K2", "V2", ..., "ELSE")', (STR, STR), 2, None,
        ParamType.TEXT, _map,
        "The V after the first K equal to the text; else ELSE when given, else the text",
        "Status", '|map("PENDING", "0", "APPROVED", "1", "2")', repeat=True,
    ),
    Function(
        RAW, "raw", (), 0, None, ParamType.TEXT, _raw,
        "The text, not escaped for where it goes (last in a chain only)",
        "Note", '|raw',
    ),
)  # fmt: skip
FUNCTIONS: dict[str, Function] = {f.name: f for f in FUNCTION_LIST}


# -- what raw still does per context (a header cannot be split, XML must stay XML) ----
HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
XML_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _raw_header(text: str) -> str:
    return HEADER_UNSAFE.sub(" ", text)


def _raw_xml(text: str) -> str:
    return XML_UNSAFE.sub("\ufffd", text)


RAW_SAFETY: dict[str, Callable[[str], str]] = {"header": _raw_header, "xml": _raw_xml}
