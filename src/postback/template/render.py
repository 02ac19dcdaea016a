"""Stage 4: a checked tree to a render plan, built once and run for every event.

The plan is a ``%``-format string holding all literal text, and one converter per
expression, specialised at compile time for the parameter's type and the context:
a converter takes the raw value and returns the formatted, escaped text, with fast
paths for values that are already canonical or have nothing to escape. Rendering is
then ``fmt % tuple([conv(get(key)) for key, conv in slots])``: one dict lookup and one
Python call per expression, and a single C-level pass to build the string. An
expression with functions (``{Name|f|g}``) gets one converter too: its steps, built
once from the function table, run in a row, then the context's escaping. (A join whose
FORMAT uses order-level parameters needs the whole parameter mapping; templates with one
use a list of getters instead.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from postback.domain.catalogue import ParamType
from postback.template.errors import BAD_VALUE, TOO_LARGE, TemplateError
from postback.template.escaping import ESCAPERS, Escaper
from postback.template.formatting import (
    MONEY_CANONICAL,
    BadValue,
    format_any,
    format_datetime,
    format_datetime_text,
    format_money,
    format_money_text,
)
from postback.template.functions import RAW, RAW_SAFETY, Step
from postback.template.nodes import (
    Applied,
    Checked,
    CheckedJoin,
    FieldRef,
    IndexRef,
    ParamRef,
    Text,
)

Params = Mapping[str, Any]
Conv = Callable[[Any], str]
Getter = Callable[[Params], str]
ItemGetter = Callable[[Params, str], str]  # (item, its index as text)
JoinRender = Callable[[Any, Params], str]
INDEX: tuple[str, ...] = tuple(str(n) for n in range(1, 1025))
ITEMS = "items"
# Characters one render may produce. A template can repeat a value (a join repeats its
# FORMAT per item), so a small event could otherwise ask for gigabytes; sizes are summed
# before each string is built. Far above any sensible request (POSTBACK_MAX_REQUEST_BYTES).
MAX_RENDERED = 16 * 1024 * 1024


# -- converters: raw value -> formatted, escaped text --------------------------------
def converter(
    kind: ParamType, context: str, label: str, position: int, chain: tuple[Applied, ...] = ()
) -> Conv:
    """The converter for one expression; ``label`` names it in ``bad_value`` errors."""
    if chain:
        return chain_converter(chain, kind, context, label, position)
    escaper = ESCAPERS[context]
    if kind is ParamType.MONEY:
        return _money(label, position)
    if kind is ParamType.DATETIME:
        return _datetime(escaper, label, position)
    return format_any if escaper is None else _escaped_text(escaper)


def bad_value(label: str, position: int, problem: BadValue) -> TemplateError:
    """The render error for a value of ``{label}`` that cannot be formatted."""
    message = f"bad value for {{{label}}} (used at {position}): {problem}"
    return TemplateError(BAD_VALUE, message, position, label)


def _escaped_text(escaper: Escaper) -> Conv:
    needs, escape = escaper.needs, escaper.escape

    def escaped(value: Any) -> str:
        if value.__class__ is str:
            text: str = value
            return escape(text) if needs(text) else text
        if value is None:
            return ""
        if value.__class__ is int:  # digits and "-" are safe in every context
            return str(value)
        formatted = format_any(value)
        return escape(formatted) if needs(formatted) else formatted

    return escaped


def _money(label: str, position: int) -> Conv:
    # Two decimals hold only digits, "-" and ".": nothing to escape in any context.
    def money(value: Any) -> str:
        kind = value.__class__
        try:
            if kind is str:
                text: str = value
                return text if MONEY_CANONICAL(text) else format_money_text(text)
            if kind is float:
                return format_money_text(repr(value))
            return format_money(value)
        except BadValue as exc:
            raise bad_value(label, position, exc) from None

    return money


def _datetime(escaper: Escaper | None, label: str, position: int) -> Conv:
    after = None if escaper is None else escaper.datetime

    def moment(value: Any) -> str:
        try:
            is_text = value.__class__ is str
            text = format_datetime_text(value) if is_text else format_datetime(value)
        except BadValue as exc:
            raise bad_value(label, position, exc) from None
        return text if after is None else after(text)

    return moment


# -- function chains ------------------------------------------------------------------
def chain_converter(
    chain: tuple[Applied, ...], kind: ParamType, context: str, label: str, position: int
) -> Conv:
    """One closure for ``{Name|f|g}``: the steps in a row, then the context's escaping.

    Each step was built from the function table at compile time, for the type of value
    it receives; nothing is looked up by name here.
    """
    steps: list[Step] = []
    for applied in chain:
        steps.append(applied.function.step(applied.args, kind))
        kind = applied.function.gives
    raw = chain[-1].function.name == RAW
    escaper = None if raw else ESCAPERS[context]
    first, rest = steps[0], tuple(steps[1:])
    if escaper is None:
        return _unescaped(
            first, rest, RAW_SAFETY.get(context, str) if raw else format_any, label, position
        )
    needs, escape = escaper.needs, escaper.escape

    def escaped(value: Any) -> str:
        try:
            value = first(value)
            for step in rest:
                value = step(value)
        except BadValue as exc:
            raise bad_value(label, position, exc) from None
        if value.__class__ is str:  # the escaping is inline: one call less per expression
            text: str = value
            return escape(text) if needs(text) else text
        return "" if value is None else str(value)  # an integer: digits need no escaping

    return escaped


def _unescaped(
    first: Step, rest: tuple[Step, ...], finish: Conv, label: str, position: int
) -> Conv:
    """A chain in the ``text`` context, or ending in ``raw``: ``finish`` instead of escaping."""

    def run(value: Any) -> str:
        try:
            value = first(value)
            for step in rest:
                value = step(value)
        except BadValue as exc:
            raise bad_value(label, position, exc) from None
        return finish(value)

    return run


# -- the plan -----------------------------------------------------------------------
class Plan:
    """Literal text as a ``%``-format string, plus what fills each ``%s``."""

    def __init__(self, tree: Sequence[Checked], context: str) -> None:
        self.fmt = "".join(_fmt_piece(node) for node in tree)
        slots = [node for node in tree if not isinstance(node, Text)]
        self.slots: tuple[tuple[str, Conv], ...] = ()
        self.getters: tuple[Getter, ...] | None = None
        if any(_needs_params(node) for node in slots):
            self.getters = tuple(_getter(node, context) for node in slots)
        else:
            self.slots = tuple((_key(node), _top_conv(node, context)) for node in slots)


def _fmt_piece(node: Checked) -> str:
    return node.value.replace("%", "%%") if isinstance(node, Text) else "%s"


def _key(node: Checked) -> str:
    return node.name if isinstance(node, ParamRef) else ITEMS


def _needs_params(node: Checked) -> bool:
    """A join whose FORMAT uses order-level parameters needs the whole params."""
    return isinstance(node, CheckedJoin) and any(isinstance(n, ParamRef) for n in node.body)


def _top_conv(node: Checked, context: str) -> Conv:
    if isinstance(node, ParamRef):
        return converter(node.type, context, node.name, node.position, node.chain)
    if isinstance(node, CheckedJoin):
        render = join_renderer(node, context)
        return lambda items: render(items, {})
    raise AssertionError(f"{node!r} is only valid inside a join")  # pragma: no cover


def _getter(node: Checked, context: str) -> Getter:
    if isinstance(node, CheckedJoin):
        render = join_renderer(node, context)
        return lambda params: render(params.get(ITEMS), params)
    conv, key = _top_conv(node, context), _key(node)
    return lambda params: conv(params.get(key))


# -- joins --------------------------------------------------------------------------
def join_renderer(join: CheckedJoin, context: str) -> JoinRender:
    """A function of (items, params) rendering every item with the join's FORMAT.

    Order-level parameters in the FORMAT are the same for every item, so they are
    substituted once per render (pass one of a two-pass format); the item slots are
    then filled per item.
    """
    outer = [n for n in join.body if isinstance(n, ParamRef)]
    per_item = [_item_getter(n, context) for n in join.body if isinstance(n, FieldRef | IndexRef)]
    fmt = "".join(_join_piece(node, bool(outer)) for node in join.body)
    outer_slots = [(n.name, converter(n.type, context, n.name, n.position, n.chain)) for n in outer]
    rows = _row_renderer(per_item)
    sep, prefix = join.sep, join.prefix

    def render(items: Any, params: Params) -> str:
        if not items:
            return ""
        row_fmt = fmt
        if outer:
            row_fmt = fmt % within_limit(tuple([_pct(c(params.get(k))) for k, c in outer_slots]))
        return prefix + sep.join(rows(row_fmt, _as_items(items)))

    return render


def within_limit(parts: tuple[str, ...], literal: int = 0) -> tuple[str, ...]:
    """``parts``, after checking that they and ``literal`` characters stay within
    :data:`MAX_RENDERED` (raises TemplateError ``too_large``)."""
    size = literal + sum(map(len, parts))
    if size > MAX_RENDERED:
        raise too_large(size)
    return parts


def too_large(size: int) -> TemplateError:
    message = f"the rendered text would be over {MAX_RENDERED:,} characters ({size:,} at least)"
    return TemplateError(TOO_LARGE, message)


def _pct(text: str) -> str:
    return text.replace("%", "%%")


def _join_piece(node: Checked, two_pass: bool) -> str:
    if isinstance(node, Text):
        return node.value.replace("%", "%%%%" if two_pass else "%%")
    if isinstance(node, ParamRef):
        return "%s"
    return "%%s" if two_pass else "%s"


def _row_renderer(getters: list[ItemGetter]) -> Callable[[str, Sequence[Any]], list[str]]:
    def rows(fmt: str, items: Sequence[Any]) -> list[str]:
        out: list[str] = []
        size, step = 0, len(fmt)
        try:
            for index, item in zip(_indices(len(items)), items, strict=False):
                row = item if item.__class__ is dict else _as_item(item, len(out) + 1)
                values = tuple([get(row, index) for get in getters])
                size += step + sum(map(len, values))
                if size > MAX_RENDERED:
                    raise too_large(size)
                out.append(fmt % values)
        except TemplateError as exc:
            raise _in_item(exc, len(out) + 1) from None
        return out

    return rows


def _item_getter(node: FieldRef | IndexRef, context: str) -> ItemGetter:
    if isinstance(node, IndexRef):
        if node.chain:
            chained = chain_converter(
                node.chain, ParamType.INTEGER, context, node.var, node.position
            )
            return lambda item, index: chained(index)
        return lambda item, index: index  # digits: nothing to escape in any context
    label = f"{node.var}.{node.field}"
    conv = converter(node.type, context, label, node.position, node.chain)
    key = node.field
    return lambda item, index: conv(item.get(key))


def _indices(count: int) -> Iterable[str]:
    return INDEX if count <= len(INDEX) else map(str, range(1, count + 1))


def _as_items(items: Any) -> Sequence[Any]:
    if items.__class__ is list or isinstance(items, list | tuple):
        sequence: Sequence[Any] = items
        return sequence
    message = f"bad value for {{{ITEMS}}}: items must be a list of objects, not {items!r}"
    raise TemplateError(BAD_VALUE, message, None, ITEMS)


def _as_item(item: Any, number: int) -> Params:
    if item is None:
        return {}
    if isinstance(item, Mapping):
        return item
    message = f"bad value for {{{ITEMS}}}: item {number} must be an object, not {item!r}"
    raise TemplateError(BAD_VALUE, message, None, ITEMS)


def _in_item(exc: TemplateError, number: int) -> TemplateError:
    if exc.parameter == ITEMS:
        return exc
    return TemplateError(exc.code, f"{exc.message} in item {number}", exc.position, exc.parameter)
