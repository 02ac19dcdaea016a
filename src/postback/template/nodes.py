"""The syntax tree (what the parser builds) and the checked tree (what the renderer compiles).

Both are frozen dataclasses: a compiled template never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from postback.domain.catalogue import ParamType
from postback.template.functions import Arg, Function


# -- syntax tree: names not yet resolved --------------------------------------------
@dataclass(frozen=True, slots=True)
class Call:
    """``|name`` or ``|name(args)`` after an expression's name; not yet looked up."""

    name: str
    args: tuple[Arg, ...] = ()


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text, copied to the output unescaped."""

    value: str


@dataclass(frozen=True, slots=True)
class Ref:
    """``{name}`` or ``{name.field}`` and its functions; ``position``: the index of its ``{``."""

    name: str
    field: str | None
    position: int
    chain: tuple[Call, ...] = ()


@dataclass(frozen=True, slots=True)
class Join:
    """``{join(collection, var, "FORMAT", "SEP", "PREFIX")}``."""

    position: int
    collection: str
    var: str
    body: tuple[Node, ...]
    sep: str
    prefix: str


Node: TypeAlias = Text | Ref | Join


# -- checked tree: every name resolved against a catalogue --------------------------
@dataclass(frozen=True, slots=True)
class Applied:
    """A function found in the table, with arguments it accepts."""

    function: Function
    args: tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class ParamRef:
    """An order-level parameter, with the type that decides its formatting."""

    name: str
    type: ParamType
    position: int
    chain: tuple[Applied, ...] = ()


@dataclass(frozen=True, slots=True)
class IndexRef:
    """``{i}`` inside a FORMAT: the item's position, counting from 1."""

    var: str
    position: int
    chain: tuple[Applied, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldRef:
    """``{i.field}`` inside a FORMAT: a field of the current item."""

    var: str
    field: str
    type: ParamType
    position: int
    chain: tuple[Applied, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckedJoin:
    """A join whose FORMAT has been checked."""

    position: int
    var: str
    body: tuple[Checked, ...]
    sep: str
    prefix: str


Checked: TypeAlias = Text | ParamRef | IndexRef | FieldRef | CheckedJoin
