"""The function table as people read it: ``postback parameters`` and ``GET /v1/parameters/{kind}``.

Each function's example is shown on a parameter of the kind's own catalogue (its usual
one when the kind has it, else the first of a type it takes), with what it renders
for the kind's sample event; a function no parameter of the kind can take has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from postback.domain.catalogue import (
    Catalogue,
    Parameter,
    ParamType,
    catalogue_for,
    sample_params,
)
from postback.domain.records import EventKind
from postback.template.compiler import compile_template
from postback.template.functions import FUNCTION_LIST, Function


@dataclass(frozen=True, slots=True)
class FunctionRow:
    """One function: how it is written, what it takes and gives, an example and its result."""

    name: str
    usage: str
    takes: str
    gives: str
    description: str
    example: str | None
    result: str | None


@cache
def function_rows(kind: EventKind) -> tuple[FunctionRow, ...]:
    """Every function, with examples on the parameters of ``kind``."""
    catalogue = catalogue_for(kind)
    sample = sample_params(kind)
    rows: list[FunctionRow] = []
    for function in FUNCTION_LIST:
        example = example_for(function, catalogue)
        result = None
        if example is not None:
            result = compile_template(example, "text", catalogue).render(sample)
        row = FunctionRow(
            function.name,
            function.usage,
            function.takes_text,
            function.gives_text,
            function.description,
            example,
            result,
        )
        rows.append(row)
    return tuple(rows)


def example_for(function: Function, catalogue: Catalogue) -> str | None:
    """``{Param|chain}`` on a parameter of this catalogue that the function takes."""

    def fits(param: Parameter | None) -> bool:
        if param is None:
            return False
        return param.type in function.takes if function.takes else param.type is ParamType.TEXT

    usual = catalogue.get(function.example_parameter)
    chosen = usual if fits(usual) else next(filter(fits, catalogue.parameters), None)
    return None if chosen is None else f"{{{chosen.name}{function.example_chain}}}"
