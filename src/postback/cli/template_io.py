"""Helpers for the ``postback render`` and ``postback parameters`` commands."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postback.domain.catalogue import Parameter, catalogue_for, sample_params
from postback.domain.records import EventKind
from postback.errors import PostbackError
from postback.template.escaping import CONTEXTS
from postback.template.listing import function_rows

if TYPE_CHECKING:
    from rich.table import Table


class InputError(PostbackError):
    """A command-line input (file, kind, context) that cannot be used; says why."""


def read_json(path: Path) -> Any:
    """The JSON value in ``path``, or an InputError saying why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def event_kind(name: str) -> EventKind:
    """The event kind called ``name``, or an InputError listing the choices."""
    try:
        return EventKind(name)
    except ValueError:
        choices = ", ".join(k.value for k in EventKind)
        raise InputError(f"unknown kind {name!r}; use one of {choices}") from None


def check_context(name: str) -> str:
    """``name`` if it is a rendering context, else an InputError listing them."""
    if name not in CONTEXTS:
        raise InputError(f"unknown context {name!r}; use one of {', '.join(CONTEXTS)}")
    return name


def load_params(path: Path | None, kind: EventKind) -> dict[str, Any]:
    """Parameters from a JSON file (an object, or an event whose ``data`` is one).

    Without a file, the sample event of the kind.
    """
    if path is None:
        return sample_params(kind)
    loaded = read_json(path)
    if isinstance(loaded, dict) and isinstance(loaded.get("data"), dict) and "type" in loaded:
        loaded = loaded["data"]
    if not isinstance(loaded, dict):
        raise InputError(f"{path} must hold a JSON object of parameter values")
    return loaded


def point_at(text: str, position: int | None) -> str:
    """The template with a caret line under the character at ``position``."""
    if position is None or not 0 <= position <= len(text):
        return text
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    end = len(text) if end < 0 else end
    caret = _blank(text[start:position]) + "^"
    return text[:end] + "\n" + caret + text[end:]


def _blank(prefix: str) -> str:
    """Whitespace as wide as ``prefix`` on a terminal (tabs kept, wide characters 2)."""
    return "".join(
        "\t" if c == "\t" else "  " if unicodedata.east_asian_width(c) in "WF" else " "
        for c in prefix
    )


def catalogue_tables(kind: EventKind) -> list[Table]:
    """The kind's parameters as rich tables: its item fields when it has items, the functions."""
    catalogue = catalogue_for(kind)
    tables = [_table(f"{kind.value} parameters", catalogue.parameters)]
    if catalogue.has_items:
        title = "item fields (inside {join(items, i, ...)} as {i.field})"
        tables.append(_table(title, catalogue.item_fields))
    tables.append(_functions(kind))
    return tables


def _functions(kind: EventKind) -> Table:
    from rich.table import Table

    title = "functions ({Name|f}, {Name|f(args)|g}: left to right; example on the sample event)"
    table = Table(title=title, title_justify="left")
    for column in ("function", "takes", "gives", "description", "example"):
        table.add_column(column, no_wrap=column in ("takes", "gives"))
    for row in function_rows(kind):
        example = "-" if row.example is None else f"{row.example} → {row.result}"
        table.add_row(row.usage, row.takes, row.gives, row.description, example)
    return table


def _table(title: str, rows: tuple[Parameter, ...]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("name", "type", "description"):
        table.add_column(column, no_wrap=column != "description")
    for param in rows:
        table.add_row(param.name, param.type.value, param.description)
    return table
