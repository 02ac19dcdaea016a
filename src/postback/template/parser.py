"""Stage 2: tokens to a syntax tree (:mod:`postback.template.nodes`).

The parser checks a join's shape (``items``, a loop variable, a FORMAT string, then an
optional SEP and PREFIX) and parses its FORMAT as a template of its own. Names are not
looked up here; that is the checker's job.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from postback.template.lexer import (
    Comma,
    Ident,
    JoinClose,
    JoinOpen,
    RefToken,
    String,
    TextToken,
    Token,
    iter_tokens,
    malformed,
    tokenize_format,
)
from postback.template.nodes import Join, Node, Ref, Text

COLLECTION = "items"
MIN_ARGS, MAX_ARGS = 3, 5
Argument = Ident | String


def parse(text: str) -> tuple[Node, ...]:
    """The syntax tree of a whole template; raises TemplateError for a syntax error.

    Tokens are lexed as they are parsed, a join's FORMAT as soon as the join is read, so
    the syntax error reported is the first in the text.
    """
    return _nodes(iter_tokens(text))


def _nodes(tokens: Iterator[Token]) -> tuple[Node, ...]:
    out: list[Node] = []
    text: list[str] = []  # adjacent text, joined once (a long run stays linear)
    for token in tokens:
        if isinstance(token, TextToken):
            text.append(token.text)
            continue
        if text:
            out.append(Text("".join(text)))
            text = []
        out.append(_node(token, tokens))
    if text:
        out.append(Text("".join(text)))
    return tuple(out)


def _node(token: Token, rest: Iterator[Token]) -> Node:
    if isinstance(token, RefToken):
        return Ref(token.name, token.field, token.position, token.chain)
    if isinstance(token, JoinOpen):
        return _join(token.position, _until_close(rest))
    raise AssertionError(f"the lexer emits {token!r} only inside a join")  # pragma: no cover


def _until_close(tokens: Iterator[Token]) -> list[Token]:
    """The tokens between ``{join(`` and ``)}`` (the lexer guarantees the close)."""
    out: list[Token] = []
    for token in tokens:
        if isinstance(token, JoinClose):
            break
        out.append(token)
    return out


def _join(start: int, tokens: Sequence[Token]) -> Join:
    args = _arguments(start, tokens)
    collection = _name(start, args[0], "the collection")
    var = _name(start, args[1], "the loop variable")
    if collection != COLLECTION:
        raise malformed(start, f"a join goes over items, not {collection}")
    body, *extra = (_string(start, a) for a in args[2:])
    sep, prefix = (*(s.source.text for s in extra), "", "")[:2]
    return Join(start, collection, var, _format(body), sep, prefix)


def _arguments(start: int, tokens: Sequence[Token]) -> list[Argument]:
    """Split on commas; each argument must be exactly one name or string."""
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if isinstance(token, Comma):
            groups.append([])
        else:
            groups[-1].append(token)
    count = len(groups)
    if count > MAX_ARGS:
        raise malformed(start, f"it takes at most {MAX_ARGS} arguments, not {count}")
    if count < MIN_ARGS and all(len(group) <= 1 for group in groups):
        raise malformed(start, "it needs items, a loop variable and a FORMAT string")
    return [_single(start, group) for group in groups]


def _single(start: int, group: list[Token]) -> Argument:
    if not group:
        raise malformed(start, "an argument is missing between two commas")
    first = group[0]
    if len(group) > 1 or not isinstance(first, Ident | String):
        where = getattr(group[1], "position", start)
        raise malformed(start, f"a comma is missing before {where}")
    return first


def _name(start: int, arg: Argument, role: str) -> str:
    if not isinstance(arg, Ident):
        raise malformed(start, f"{role} is a name, not a string, at {arg.position}")
    return arg.name


def _string(start: int, arg: Argument) -> String:
    if not isinstance(arg, String):
        raise malformed(start, f"FORMAT, SEP and PREFIX are strings in double quotes ({arg.name})")
    return arg


def _format(body: String) -> tuple[Node, ...]:
    """A FORMAT literal is a template of its own (joins refused by its lexer)."""
    return _nodes(iter(tokenize_format(body.source)))
