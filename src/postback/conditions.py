"""CEL conditions: compiled once when a postback is saved, evaluated per event. Pure.

The CEL library is ``common-expression-language`` (bindings to the Rust ``cel`` crate);
``docs/conditions.md`` says why. Nothing else in Postback imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import cel

from postback.domain.catalogue import Catalogue, ParamType, catalogue_for
from postback.domain.records import EventKind
from postback.errors import PostbackError

MAX_LENGTH = 4096
# Comprehensions nest into loops over the event's items (n^k steps for k nested), and
# evaluation has no time limit: a few are plenty for a condition.
MAX_COMPREHENSIONS = 3
_WHERE = re.compile(r"<input>:(\d+):(\d+):\s*")
_COMPREHENSION = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(")


class ConditionError(PostbackError):
    """A condition that does not compile: the library's message and a 0-based position."""

    def __init__(self, message: str, position: int | None) -> None:
        self.message = message
        self.position = position
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition; evaluate it against any number of events."""

    text: str
    program: cel.Program
    names: tuple[str, ...]  # the variables it names (macro variables such as ``i`` too)


class Bindings:
    """One event's variables, shared by its postbacks' conditions.

    A variable is converted to a CEL value when a condition first names it, once per
    event: converting all of them (``event`` alone is a map of every parameter) would
    cost more than evaluating, and a resolver callback costs as much on every use.
    """

    __slots__ = ("_added", "_context", "_lookup")

    def __init__(self, lookup: _Lookup) -> None:
        self._lookup = lookup
        self._context = cel.Context()
        self._added: set[str] = set()

    def context_for(self, condition: Condition) -> cel.Context:
        """The context, holding every variable the condition names that the event binds."""
        for name in condition.names:
            if name not in self._added:
                self._added.add(name)
                value = self._lookup(name)
                if value is not None:
                    self._context.add_variable(name, value)
        return self._context


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a condition holds for an event; ``error`` says why it could not be told."""

    holds: bool
    error: str | None = None


def compile_condition(text: str) -> Condition:
    """Parse a condition; a mistake raises ConditionError with the library's message."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters", MAX_LENGTH)
    if not text.strip():
        raise ConditionError("the condition is empty; send null for no condition", 0)
    loops = list(_COMPREHENSION.finditer(text))
    if len(loops) > MAX_COMPREHENSIONS:
        raise ConditionError(
            f"at most {MAX_COMPREHENSIONS} of all/exists/exists_one/map/filter in a condition",
            loops[MAX_COMPREHENSIONS].start(),
        )
    try:
        program = cel.compile(text)
    except Exception as exc:
        raise _compile_error(text, str(exc)) from None
    return Condition(text, program, tuple(program.variables()))


def _compile_error(text: str, raw: str) -> ConditionError:
    """The library's own words, without its echo of the text; the line:column as an index."""
    found = _WHERE.search(raw)
    if found is None:
        return ConditionError(raw.split("\n", 1)[0], None)
    line, column = int(found.group(1)), int(found.group(2))
    lines = text.split("\n")
    position = sum(len(x) + 1 for x in lines[: line - 1]) + column - 1
    message = raw[found.end() :].split("\n", 1)[0]
    return ConditionError(message, min(max(position, 0), len(text)))


def evaluate(condition: Condition, bindings: Bindings) -> Verdict:
    """True or false for this event, or the reason it could not be evaluated."""
    try:
        result = condition.program.execute(bindings.context_for(condition))
    except Exception as exc:
        return Verdict(False, " ".join(str(exc).split()) or type(exc).__name__)
    if not isinstance(result, bool):
        return Verdict(False, f"the condition gave {result!r}, not true or false")
    return Verdict(result)


def bind(kind: EventKind, topic: str, params: Mapping[str, Any]) -> Bindings:
    """The variables of one event: each parameter typed by the catalogue of its kind.

    A parameter the event does not carry (absent or null), or whose value cannot be read
    as its type, is left unbound: using it is an evaluation error, ``has(event.X)`` is
    false.
    """
    return Bindings(_Lookup(catalogue_for(kind), topic, params))


def variables(kind: EventKind, topic: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every bound variable as the plain Python value CEL is given (for tests, previews)."""
    lookup = _Lookup(catalogue_for(kind), topic, params)
    names = ("type", "event", "items", *params)
    return {name: value for name in names if (value := lookup(name)) is not None}


class _Lookup:
    """The typed value of a variable by name, converted on first use and kept."""

    __slots__ = ("_catalogue", "_params", "_seen", "_type")

    def __init__(self, catalogue: Catalogue, topic: str, params: Mapping[str, Any]) -> None:
        self._catalogue = catalogue
        self._type = topic
        self._params = params
        self._seen: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        if name in self._seen:
            return self._seen[name]
        if name == "type":
            value: Any = self._type
        elif name == "event":
            value = {k: v for k in self._params if (v := self._given(k)) is not None}
        elif name == "items" or self._catalogue.get(name) is not None:
            value = self._given(name)
        else:
            value = None  # not a parameter of this kind: only event.Name reaches it
        self._seen[name] = value
        return value

    def _given(self, name: str) -> Any:
        value = self._params.get(name)
        if name == "items":
            return _items(self._catalogue, value)
        param = self._catalogue.get(name)
        return _plain(value) if param is None else _typed(param.type, value)


def _items(catalogue: Catalogue, value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, dict):
            return None
        fields = {}
        for name, raw in item.items():
            param = catalogue.item_field(name)
            typed = _plain(raw) if param is None else _typed(param.type, raw)
            if typed is not None:
                fields[str(name)] = typed
        out.append(fields)
    return out


def _typed(kind: ParamType, value: Any) -> Any:
    """The value as its catalogue type says, or None when it is absent or unreadable."""
    if value is None:
        return None
    if kind is ParamType.TEXT and isinstance(value, str):
        return value  # the common case, first
    return _CONVERT.get(kind, _plain)(value)


def _list(value: Any) -> list[str] | None:
    return [t for v in value if (t := _text(v)) is not None] if isinstance(value, list) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    return None


def _double(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return float(number) if number.is_finite() else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return int(number) if number.is_finite() and number == number.to_integral_value() else None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False, "1": True, "0": False}.get(str(value).lower())


def _plain(value: Any) -> Any:
    """A parameter outside the catalogue, as JSON gave it (nulls dropped)."""
    if isinstance(value, dict):
        return {str(k): v for k, x in value.items() if (v := _plain(x)) is not None}
    if isinstance(value, list):
        return [v for x in value if (v := _plain(x)) is not None]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return _timestamp(value)
    return value


_CONVERT: dict[ParamType, Callable[[Any], Any]] = {
    ParamType.TEXT: _text,
    ParamType.MONEY: _double,
    ParamType.INTEGER: _int,
    ParamType.DATETIME: _timestamp,
    ParamType.BOOLEAN: _bool,
    ParamType.LIST: _list,
}
