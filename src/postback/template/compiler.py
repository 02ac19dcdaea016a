"""``compile_template`` and the compiled :class:`Template` (lexer, parser, checker, plan)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from postback.domain.catalogue import ACTION_CATALOGUE, Catalogue
from postback.template.checker import check
from postback.template.escaping import CONTEXTS
from postback.template.nodes import Checked, CheckedJoin, FieldRef, ParamRef
from postback.template.parser import parse
from postback.template.render import Plan, within_limit


class Template:
    """A compiled template: compile once, then :meth:`render` for every event."""

    __slots__ = (
        "_fmt",
        "_getters",
        "_slots",
        "context",
        "item_fields",
        "parameters",
        "text",
        "uses_items",
    )

    def __init__(self, text: str, context: str, tree: tuple[Checked, ...]) -> None:
        self.text = text
        self.context = context
        #: The order-level parameter names the template uses (joins included).
        self.parameters: frozenset[str] = frozenset(_walk(tree, ParamRef))
        #: The item fields its joins use.
        self.item_fields: frozenset[str] = frozenset(_walk(tree, FieldRef))
        #: Whether it has a join (so it reads ``params["items"]``).
        self.uses_items = any(isinstance(node, CheckedJoin) for node in tree)
        plan = Plan(tree, context)
        self._fmt, self._slots, self._getters = plan.fmt, plan.slots, plan.getters

    def render(self, params: Mapping[str, Any]) -> str:
        """The text for these parameter values (``items``: a list of item mappings).

        Missing and null values render empty; a money or date value that cannot be
        parsed raises TemplateError with code ``bad_value``; text that would be over
        ``MAX_RENDERED`` characters, ``too_large``.
        """
        if self._getters is None:
            get = params.get
            parts = tuple([conv(get(key)) for key, conv in self._slots])
        else:
            parts = tuple([get(params) for get in self._getters])
        return self._fmt % within_limit(parts, len(self._fmt))

    def __repr__(self) -> str:
        return f"Template({self.text!r}, context={self.context!r})"


def _walk(tree: tuple[Checked, ...], kind: type[ParamRef] | type[FieldRef]) -> list[str]:
    found: list[str] = []
    for node in tree:
        if isinstance(node, CheckedJoin):
            found += _walk(node.body, kind)
        elif isinstance(node, ParamRef) and kind is ParamRef:
            found.append(node.name)
        elif isinstance(node, FieldRef) and kind is FieldRef:
            found.append(node.field)
    return found


def compile_template(
    text: str, context: str = "url", catalogue: Catalogue | None = None
) -> Template:
    """Compile ``text`` for a context (url, query, json, xml, header or text).

    Names and functions are checked against ``catalogue`` (default: the action
    parameters). Raises TemplateError with ``code``, ``position`` and a message
    saying what to write.
    """
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r}; use one of {', '.join(CONTEXTS)}")
    known = ACTION_CATALOGUE if catalogue is None else catalogue
    # Syntax errors anywhere come first: parse, then check.
    return Template(text, context, check(parse(text), known))
