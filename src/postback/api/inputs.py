"""Text no database can hold (U+0000, lone surrogates) refused at the API's edge.

Every ``/v1`` route runs through :class:`CheckedRoute`, which looks at the path and query
parameters and at the whole JSON body (at any depth, keys included) before the route
sees them, and answers 422 naming the field. PostgreSQL refuses U+0000 in text and JSON,
and no UTF-8 database can store a lone surrogate: caught later, either is a driver error
that looks like an outage (a 503 that a producer retries for ever).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from postback.errors import Problem, ValidationProblem
from postback.errors import problem as field_problem

BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
TEXT, NUMBER = "invalid_text", "invalid_number"  # problem codes
MAX_PROBLEMS = 20  # a body full of NULs needs a few examples, not thousands
Path = tuple[str | int, ...]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None when it can."""
    found = BAD_TEXT.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "contains U+0000 (a NUL character), which cannot be stored; remove it"
    return (
        f"contains a lone surrogate (U+{ord(char):04X}), which is not a character; send valid UTF-8"
    )


def shown(text: str) -> str:
    """``text`` with NULs and surrogates written as ``\\uXXXX`` (safe in any reply)."""
    return BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def field_name(path: Path) -> str:
    """``data.items[2].sku``; a list at the top (a batch of events) gives ``[0].id``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + shown(part)
    return out or "body"


def bad_text(value: Any, path: Path = ()) -> Iterator[tuple[Path, str, str]]:
    """Every string in a decoded JSON value (keys too) that cannot be stored, and every
    NaN or infinity, by path.

    Walks with an explicit stack, each entry linked to its parent (a path is built only
    for what is found): a deeply nested body costs neither recursion nor quadratic time.
    """
    stack: list[tuple[_Link, Any]] = [(_Link(None, path), value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                yield where.path(), TEXT, problem
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                key_problem = text_problem(key)
                if key_problem is not None:
                    yield _Link(where, (key,)).path(), TEXT, f"the name {key_problem}"
                stack.append((_Link(where, (key,)), child))
        elif isinstance(item, float) and not math.isfinite(item):
            # Python's JSON reader takes NaN and Infinity; no JSON writer gives them back.
            yield where.path(), NUMBER, f"is {item}, which is not a number JSON can carry"
        elif isinstance(item, list):
            stack.extend(
                (_Link(where, (i,)), child) for i, child in reversed(list(enumerate(item)))
            )


class _Link:
    """One step of a path, pointing at its parent's."""

    __slots__ = ("parent", "step")

    def __init__(self, parent: _Link | None, step: Path) -> None:
        self.parent, self.step = parent, step

    def path(self) -> Path:
        steps: list[Path] = []
        link: _Link | None = self
        while link is not None:
            steps.append(link.step)
            link = link.parent
        return tuple(part for step in reversed(steps) for part in step)


def _problem(field: str, message: str, code: str = "invalid_text") -> Problem:
    return field_problem(field, code, message)


def request_problems(
    path_params: dict[str, Any], query: list[tuple[str, str]], body: Any
) -> list[dict[str, object]]:
    """Problems with the text of one request's parameters and decoded JSON body."""
    found: list[dict[str, object]] = []
    for name, value in path_params.items():
        problem = text_problem(str(value))
        if problem is not None:
            found.append(_problem(name, f"{name} {problem}"))
    for name, value in query:
        for text in (name, value):
            problem = text_problem(text)
            if problem is not None:
                found.append(_problem(shown(name), f"query parameter {shown(name)} {problem}"))
                break
    for where, code, problem in bad_text(body):
        if len(found) >= MAX_PROBLEMS:
            break
        name = field_name(where)
        found.append(_problem(name, f"{name} {problem}", code))
    return found


# How anything bad_text looks for is spelled in UTF-8 JSON: "\u0000", "\ud800" (or
# "\uD800"), a surrogate's own bytes (ED A0..BF, which Python's JSON reader lets
# through), NaN, Infinity. A body with none of them needs no walk.
MARKERS = (b"\\u0000", b"\\ud", b"\\uD", b"\xed", b"NaN", b"Infinity")


def may_hold_bad_text(raw: bytes) -> bool:
    """False only when a JSON body surely decodes to nothing :func:`bad_text` finds."""
    if b"\x00" in raw or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 or UTF-32, which the JSON reader also takes: walk it
    return any(marker in raw for marker in MARKERS)


async def _json_body(request: Request) -> Any:
    """The decoded JSON body (cached on the request for the route), or None when there
    is none or it cannot hold bad text."""
    raw = await request.body()
    if not raw or not may_hold_bad_text(raw):
        return None
    try:
        return await request.json()
    except (ValueError, RecursionError):  # not JSON (or nested past Python's limit):
        return None  # the route's own parsing reports it


class CheckedRoute(APIRoute):
    """A route that refuses text no database can hold before the route runs."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            body = await _json_body(request)
            problems = request_problems(
                dict(request.path_params), request.query_params.multi_items(), body
            )
            if problems:
                raise ValidationProblem(problems)
            return await handler(request)

        return checked
