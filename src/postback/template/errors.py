"""The one exception the template language raises, for compile and render errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from postback.errors import PostbackError

UNKNOWN_PARAMETER = "unknown_parameter"
UNKNOWN_ITEM_FIELD = "unknown_item_field"
UNKNOWN_LOOP_VARIABLE = "unknown_loop_variable"
MALFORMED_JOIN = "malformed_join"
MALFORMED_FUNCTION = "malformed_function"
UNKNOWN_FUNCTION = "unknown_function"
BAD_ARGUMENTS = "bad_arguments"
TYPE_MISMATCH = "type_mismatch"
BAD_VALUE = "bad_value"


class TemplateError(PostbackError):
    """A template that cannot be compiled, or a value that cannot be rendered.

    ``code`` is machine-readable (``unknown_parameter``, ``malformed_join``, ...),
    ``position`` the 0-based index in the original template of the ``{`` opening the
    offending expression (None when no expression is to blame), and ``str()`` a
    sentence that says what to write instead.
    """

    def __init__(
        self, code: str, message: str, position: int | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position
        self.parameter = parameter

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"TemplateError({self.code!r}, {self.message!r}, position={self.position})"

    def __reduce__(self) -> tuple[type[TemplateError], tuple[str, str, int | None, str | None]]:
        return TemplateError, (self.code, self.message, self.position, self.parameter)


def suggest(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """The known names closest to ``name``: a case-insensitive match first, then difflib's."""
    names = list(known)
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:  # only the case is wrong: that is the answer
        return [lowered[name.lower()]]
    found = difflib.get_close_matches(name, names, n=limit, cutoff=0.6)
    by_lower = difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.6)
    found += [lowered[n] for n in by_lower]
    return list(dict.fromkeys(found))[:limit]


def either(choices: list[str]) -> str:
    """``{A}``, ``{A} or {B}``, ``{A}, {B} or {C}``."""
    quoted = [f"{{{c}}}" for c in choices]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
