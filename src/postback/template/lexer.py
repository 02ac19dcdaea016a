"""Stage 1: text to tokens.

The language is hand-written rather than built on a template or parser library because
no library implements its rules: braces are *lenient* (a ``{`` that does not open a
well-formed expression is plain text, so a JSON body can be written as is), escapes
differ inside and outside string literals, and an error must point at the ``{`` of the
offending expression in the original text, even inside a join's FORMAT string where
escapes have shifted every offset. Jinja2, string.Template, str.format and parser
generators all treat a stray brace as an error or as syntax.

Two lexers share the expression rules: :func:`tokenize` reads a whole template (raw
text, with ``\\{`` and ``\\}`` escapes), :func:`tokenize_format` reads the content of a
join's FORMAT literal, whose escapes were already resolved when the literal was read
(``Source.escaped`` says which characters came from an escape, ``Source.positions``
where each character was in the original text). Both read a function chain
(``{Name|f("a", 1)|g}``) with :func:`read_chain`, the same way on either text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

from postback.template.errors import MALFORMED_FUNCTION, MALFORMED_JOIN, TemplateError
from postback.template.functions import RAW, Arg
from postback.template.nodes import Call

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# ``{name}``, ``{name.field}``, or the start of a chain: ``{name|`` / ``{name.field|``.
REF = re.compile(rf"\{{({IDENT})(?:\.({IDENT}))?([|}}])")
JOIN_OPEN = re.compile(r"\{join[ \t\r\n]*\(")
IDENT_AT = re.compile(IDENT)
RAW_SPECIAL = re.compile(r"[{\\]")
LITERAL_ESCAPES = frozenset('"\\{}')
EXAMPLE = '{join(items, i, "sku{i}={i.sku}", "&", "?")}'
FUNCTION_EXAMPLE = '{Status|lower} or {EventDate|date("%Y-%m-%d", "UTC")}'
ARG_INTEGER = re.compile(r"-?[0-9]+")
MAX_DIGITS = 100


@dataclass(frozen=True, slots=True)
class Source:
    """Text already unescaped, mapped back to the original template."""

    text: str
    positions: tuple[int, ...]
    escaped: frozenset[int]


@dataclass(frozen=True, slots=True)
class TextToken:
    """Plain text."""

    text: str


@dataclass(frozen=True, slots=True)
class RefToken:
    """``{name}`` or ``{name.field}``."""

    name: str
    field: str | None
    position: int
    chain: tuple[Call, ...] = ()


@dataclass(frozen=True, slots=True)
class JoinOpen:
    """``{join(``; what follows up to :class:`JoinClose` are its arguments."""

    position: int


@dataclass(frozen=True, slots=True)
class Ident:
    """A bare name inside a join's parentheses."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Comma:
    """An argument separator inside a join's parentheses."""

    position: int


@dataclass(frozen=True, slots=True)
class String:
    """A double-quoted literal inside a join's parentheses."""

    source: Source
    position: int


@dataclass(frozen=True, slots=True)
class JoinClose:
    """The ``)}`` that ends a join."""

    position: int


Token: TypeAlias = TextToken | RefToken | JoinOpen | Ident | Comma | String | JoinClose
JoinToken: TypeAlias = Ident | Comma | String | JoinClose


def malformed(position: int, problem: str) -> TemplateError:
    """A ``malformed_join`` error for the join whose ``{`` is at ``position``."""
    message = f"malformed join at {position}: {problem}; write e.g. {EXAMPLE}"
    return TemplateError(MALFORMED_JOIN, message, position)


def malformed_function(position: int, problem: str) -> TemplateError:
    """A ``malformed_function`` error for the expression whose ``{`` is at ``position``."""
    message = f"malformed function call at {position}: {problem}; write e.g. {FUNCTION_EXAMPLE}"
    return TemplateError(MALFORMED_FUNCTION, message, position)


# -- whole templates ----------------------------------------------------------------
def tokenize(text: str) -> list[Token]:
    """Split a template into tokens; raises ``malformed_join`` / ``malformed_function``."""
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    """The tokens of a template, lexed as they are taken (so errors come in text order)."""
    i, end = 0, len(text)
    while i < end:
        found = RAW_SPECIAL.search(text, i)
        stop = end if found is None else found.start()
        if stop > i:
            yield TextToken(text[i:stop])
        if found is None:
            return
        out: list[Token] = []
        i = _special(text, stop, out)
        yield from out


def _special(text: str, i: int, out: list[Token]) -> int:
    """Lex the backslash or brace at ``i``; return where to go on."""
    if text[i] == "\\":
        return _backslash(text, i, out)
    opened = JOIN_OPEN.match(text, i)
    if opened is not None:
        out.append(JoinOpen(i))
        return _join_arguments(text, i, opened.end(), out)
    return _brace(text, i, out)


def _backslash(text: str, i: int, out: list[Token]) -> int:
    """``\\{`` and ``\\}`` are braces; ``\\\\`` passes through whole (a JSON escape)."""
    following = text[i + 1 : i + 2]
    if following in ("{", "}"):
        out.append(TextToken(following))
        return i + 2
    if following == "\\":
        out.append(TextToken("\\\\"))
        return i + 2
    out.append(TextToken("\\"))
    return i + 1


def _brace(text: str, i: int, out: list[Token]) -> int:
    """A ``{`` opens an expression when one follows; otherwise it is text."""
    ref = REF.match(text, i)
    if ref is None:
        out.append(TextToken("{"))
        return i + 1
    if ref.group(3) == "}":
        out.append(RefToken(ref.group(1), ref.group(2), i))
        return ref.end()
    chain, end = read_chain(text, i, ref.end() - 1, frozenset())
    out.append(RefToken(ref.group(1), ref.group(2), i, chain))
    return end


# -- function chains ----------------------------------------------------------------
def read_chain(
    text: str, start: int, i: int, escaped: frozenset[int]
) -> tuple[tuple[Call, ...], int]:
    """The calls from the ``|`` at ``i`` up to the ``}`` directly after the last; its end.

    ``start`` is the expression's ``{`` (for errors); a ``}`` at an index in ``escaped``
    (written ``\\}`` in a FORMAT) closes nothing.
    """
    calls: list[Call] = []
    while True:
        name = IDENT_AT.match(text, i + 1)
        if name is None:
            raise malformed_function(start, "a function name must follow each |")
        args: tuple[Arg, ...] = ()
        i = name.end()
        if text.startswith("(", i):
            args, i = _call_arguments(text, start, i)
        calls.append(Call(name.group(), args))
        if i < len(text) and text[i] == "|":
            continue
        if i < len(text) and text[i] == "}" and i not in escaped:
            break
        found = repr(text[i]) if i < len(text) else "the end of the text"
        raise malformed_function(
            start, f"expected | or }} directly after {name.group()}, not {found}"
        )
    if any(call.name == RAW for call in calls[:-1]):
        raise malformed_function(start, "raw can only be the last function of a chain")
    return tuple(calls), i + 1


def _call_arguments(text: str, start: int, opening: int) -> tuple[tuple[Arg, ...], int]:
    """Arguments from the ``(`` at ``opening`` to its ``)``; return them and the end."""
    args: list[Arg] = []
    i = _skip_space(text, opening + 1)
    if text.startswith(")", i):
        return (), i + 1
    while True:
        i = _skip_space(text, i)
        arg, i = _call_argument(text, start, i)
        args.append(arg)
        i = _skip_space(text, i)
        if i >= len(text):
            raise malformed_function(start, "a ( is never closed with )")
        if text[i] == ")":
            return tuple(args), i + 1
        if text[i] != ",":
            raise malformed_function(start, f"expected , or ) after an argument, not {text[i]!r}")
        i += 1


def _call_argument(text: str, start: int, i: int) -> tuple[Arg, int]:
    if i >= len(text):
        raise malformed_function(start, "a ( is never closed with )")
    if text[i] == '"':
        return _argument_string(text, start, i)
    number = ARG_INTEGER.match(text, i)
    if number is None:
        raise malformed_function(
            start, f'an argument is a "string" or an integer; {text[i]!r} starts neither'
        )
    digits = number.group()
    if len(digits.lstrip("-")) > MAX_DIGITS:  # far out of any range; int() would refuse it
        digits = ("-" if digits.startswith("-") else "") + "9" * MAX_DIGITS
    return int(digits), number.end()


def _argument_string(text: str, start: int, opening: int) -> tuple[str, int]:
    """A function's string argument: ``\\"`` and ``\\\\`` are its only escapes."""
    chars: list[str] = []
    i = opening + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(chars), i + 1
        if char == "\\" and text[i + 1 : i + 2] in ('"', "\\"):
            char = text[i + 1]
            i += 1
        chars.append(char)
        i += 1
    raise malformed_function(start, 'a string argument never ends; close it with "')


# -- the inside of a join -----------------------------------------------------------
def _join_arguments(text: str, start: int, i: int, out: list[Token]) -> int:
    """Tokens from after ``{join(`` up to and including ``)}``; return the end."""
    while True:
        i = _skip_space(text, i)
        if i >= len(text):
            raise malformed(start, "it is not closed with )}")
        token, i = _join_token(text, start, i)
        out.append(token)
        if isinstance(token, JoinClose):
            return i


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _join_token(text: str, start: int, i: int) -> tuple[JoinToken, int]:
    char = text[i]
    if char == ",":
        return Comma(i), i + 1
    if char == '"':
        return _string(text, start, i)
    if char == ")":
        if text.startswith("}", i + 1):
            return JoinClose(i), i + 2
        if text.startswith("|", i + 1):
            raise malformed_function(start, "join takes no functions; put them on its values")
        raise malformed(start, f"the ) at {i} must be followed directly by }}")
    name = IDENT_AT.match(text, i)
    if name is not None:
        return Ident(name.group(), i), name.end()
    raise malformed(start, f'unexpected {char!r} at {i}; inside a string, write a quote as \\"')


def _string(text: str, start: int, opening: int) -> tuple[String, int]:
    """A double-quoted literal: ``\\"``, ``\\\\``, ``\\{``, ``\\}`` are escapes."""
    chars: list[str] = []
    positions: list[int] = []
    escaped: set[int] = set()
    i = opening + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            source = Source("".join(chars), tuple(positions), frozenset(escaped))
            return String(source, opening), i + 1
        is_escape = char == "\\" and text[i + 1 : i + 2] in LITERAL_ESCAPES
        if is_escape:
            escaped.add(len(chars))
            char = text[i + 1]
        chars.append(char)
        positions.append(i)
        i += 2 if is_escape else 1
    raise malformed(start, 'a string argument never ends; close it with "')


# -- FORMAT literals ----------------------------------------------------------------
def tokenize_format(source: Source) -> list[Token]:
    """Tokens of a FORMAT literal's content; escaped braces are text, joins are refused."""
    out: list[Token] = []
    text, i = source.text, 0
    while i < len(text):
        stop = text.find("{", i)
        stop = len(text) if stop < 0 else stop
        if stop > i:
            out.append(TextToken(text[i:stop]))
        i = _format_brace(source, stop, out) if stop < len(text) else stop
    return out


def _format_brace(source: Source, i: int, out: list[Token]) -> int:
    text = source.text
    if i in source.escaped:
        out.append(TextToken("{"))
        return i + 1
    if JOIN_OPEN.match(text, i):
        raise malformed(source.positions[i], "a join cannot be nested in a join's FORMAT")
    ref = REF.match(text, i)
    if ref is None or (ref.group(3) == "}" and ref.end() - 1 in source.escaped):
        out.append(TextToken("{"))
        return i + 1
    position = source.positions[i]
    if ref.group(3) == "}":
        out.append(RefToken(ref.group(1), ref.group(2), position))
        return ref.end()
    chain, end = read_chain(text, position, ref.end() - 1, source.escaped)
    out.append(RefToken(ref.group(1), ref.group(2), position, chain))
    return end


def literal_text(text: str, placeholder: str = "x") -> str:
    """The template's literal text with every expression (arguments and all) replaced by
    ``placeholder``: what a URL looks like around its values. Raises TemplateError for a
    syntax error."""
    out: list[str] = []
    in_join = False
    for token in iter_tokens(text):
        if isinstance(token, JoinOpen):
            in_join = True
            out.append(placeholder)
        elif isinstance(token, JoinClose):
            in_join = False
        elif not in_join:
            out.append(token.text if isinstance(token, TextToken) else placeholder)
    return "".join(out)
