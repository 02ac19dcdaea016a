"""Stage 3: resolve every name of a syntax tree against a parameter catalogue.

Errors say what to type instead: the closest known names for a misspelt one, the loop
variable to use inside a join, the item fields there are, the closest function names.
Order (pinned by tests/unit/template_functions_vectors.json): a join that cannot be used
with this catalogue is a ``malformed_join`` reported before any name; then, expression
by expression, the name, then each function from left to right: its name, its
arguments, its input type.
"""

from __future__ import annotations

from postback.domain.catalogue import Catalogue, ParamType
from postback.template.errors import (
    BAD_ARGUMENTS,
    TYPE_MISMATCH,
    UNKNOWN_FUNCTION,
    UNKNOWN_ITEM_FIELD,
    UNKNOWN_LOOP_VARIABLE,
    UNKNOWN_PARAMETER,
    TemplateError,
    either,
    suggest,
)
from postback.template.functions import FUNCTIONS, TYPE_WORDS
from postback.template.lexer import malformed
from postback.template.nodes import (
    Applied,
    Checked,
    CheckedJoin,
    FieldRef,
    IndexRef,
    Join,
    Node,
    ParamRef,
    Ref,
    Text,
)


def check(tree: tuple[Node, ...], catalogue: Catalogue) -> tuple[Checked, ...]:
    """The checked tree; raises TemplateError at the first name that does not resolve."""
    checker = _Checker(catalogue)
    for node in tree:
        if isinstance(node, Join):
            checker.join_fits(node)
    return checker.nodes(tree, None)


class _Checker:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def nodes(self, tree: tuple[Node, ...], var: str | None) -> tuple[Checked, ...]:
        return tuple(self.node(node, var) for node in tree)

    def node(self, node: Node, var: str | None) -> Checked:
        if isinstance(node, Text):
            return node
        if isinstance(node, Join):
            return self.join(node)
        if node.field is not None:
            return self.field(node, node.field, var)
        if node.name == var:
            return IndexRef(node.name, node.position, chain(node, ParamType.INTEGER))
        return self.param(node, var)

    def param(self, ref: Ref, var: str | None) -> ParamRef:
        found = self.catalogue.get(ref.name)
        if found is None:
            raise self.unknown_parameter(ref, var)
        return ParamRef(found.name, found.type, ref.position, chain(ref, found.type))

    def field(self, ref: Ref, name: str, var: str | None) -> FieldRef:
        if var is None or ref.name != var:
            raise unknown_loop_variable(ref, var)
        found = self.catalogue.item_field(name)
        if found is None:
            raise self.unknown_field(ref)
        return FieldRef(var, found.name, found.type, ref.position, chain(ref, found.type))

    def join_fits(self, join: Join) -> None:
        """A join needs items, and a loop variable that is not a parameter's name."""
        kind = self.catalogue.kind
        if not self.catalogue.has_items:
            raise malformed(join.position, f"{kind} events have no items to join")
        if self.catalogue.get(join.var) is not None:
            raise malformed(join.position, f"the loop variable {join.var} is a parameter's name")

    def join(self, join: Join) -> CheckedJoin:
        body = self.nodes(join.body, join.var)
        return CheckedJoin(join.position, join.var, body, join.sep, join.prefix)

    def unknown_parameter(self, ref: Ref, var: str | None) -> TemplateError:
        names = [*self.catalogue.names, *([var] if var else [])]
        close = suggest(ref.name, names)
        kind = self.catalogue.kind
        hint = (
            f"did you mean {either(close)}?"
            if close
            else f"{kind} templates can use the names listed by GET /v1/parameters/{kind}"
        )
        message = f"unknown parameter {{{ref.name}}} at {ref.position}; {hint}"
        return TemplateError(UNKNOWN_PARAMETER, message, ref.position, ref.name)

    def unknown_field(self, ref: Ref) -> TemplateError:
        fields = self.catalogue.field_names
        close = [f"{ref.name}.{f}" for f in suggest(str(ref.field), fields)]
        listed = ", ".join(fields)
        hint = f"did you mean {either(close)}? " if close else ""
        message = (
            f"unknown item field {{{ref.name}.{ref.field}}} at {ref.position}; "
            f"{hint}items have the fields {listed}"
        )
        return TemplateError(UNKNOWN_ITEM_FIELD, message, ref.position, ref.field)


def unknown_loop_variable(ref: Ref, var: str | None) -> TemplateError:
    """``{x.field}`` outside a join, or with another name than the join's loop variable."""
    shown = f"{{{ref.name}.{ref.field}}} at {ref.position}"
    if var is None:
        v, f = ref.name, ref.field
        example = f'{{join(items, {v}, "{f}{{{v}}}={{{v}.{f}}}", "&")}}'
        hint = f"item fields exist only inside a join's FORMAT, e.g. {example}"
    else:
        hint = f"this join's loop variable is {var}; write {{{var}.{ref.field}}}"
    message = f"unknown loop variable {ref.name} in {shown}; {hint}"
    return TemplateError(UNKNOWN_LOOP_VARIABLE, message, ref.position, ref.name)


def chain(ref: Ref, kind: ParamType) -> tuple[Applied, ...]:
    """Each function of ``ref``'s chain, looked up and checked, the value's type followed."""
    applied: list[Applied] = []
    for call in ref.chain:
        function = FUNCTIONS.get(call.name)
        if function is None:
            raise _function_error(ref, UNKNOWN_FUNCTION, _unknown_function(call.name))
        problem = function.arguments_problem(call.args)
        if problem is not None:
            raise _function_error(ref, BAD_ARGUMENTS, problem)
        if function.takes is not None and kind not in function.takes:
            source = applied[-1].function.name if applied else f"{{{_shown(ref)}}}"
            problem = (
                f"{call.name} needs {function.takes_text}, but {source} gives {TYPE_WORDS[kind]}"
            )
            raise _function_error(ref, TYPE_MISMATCH, problem)
        applied.append(Applied(function, call.args))
        kind = function.gives
    return tuple(applied)


def _shown(ref: Ref) -> str:
    return ref.name if ref.field is None else f"{ref.name}.{ref.field}"


def _unknown_function(name: str) -> str:
    close = suggest(name, FUNCTIONS)
    hint = f"did you mean {' or '.join(close)}?" if close else "the functions are"
    listed = "" if close else " " + ", ".join(FUNCTIONS)
    return f"unknown function {name}; {hint}{listed}"


def _function_error(ref: Ref, code: str, problem: str) -> TemplateError:
    message = f"{problem} (in {{{_shown(ref)}|...}} at {ref.position})"
    return TemplateError(code, message, ref.position, _shown(ref))
