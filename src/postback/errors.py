"""The one root exception and its family.

Every error the product raises on purpose derives from :class:`PostbackError`;
driver errors (SQLAlchemy, asyncpg, aiohttp) are converted at the adapter that
meets them, with ``raise ... from exc``.
"""

from __future__ import annotations


class PostbackError(Exception):
    """Root of every error Postback raises on purpose."""


class ConfigError(PostbackError):
    """A setting is missing or invalid; the message says which and how to fix it."""


class StoreError(PostbackError):
    """The store could not do what was asked (connection lost, constraint broken)."""


class NotFound(PostbackError):
    """The object does not exist, or belongs to another account (the same to the caller)."""


class Forbidden(PostbackError):
    """The caller's kind of account may not do this at all (not a matter of which object)."""


class Conflict(PostbackError):
    """The request clashes with the current state (a duplicate name, a deleted parent)."""


Problem = dict[str, object]  # {"field", "code", "position", "message"}


def problem(field: str, code: str, message: str, position: int | None = None) -> Problem:
    """One field-level problem, as every 422 lists them."""
    return {"field": field, "code": code, "position": position, "message": message}


class ValidationProblem(PostbackError):
    """Input that breaks a rule; carries one or more field-level problems."""

    def __init__(self, problems: list[dict[str, object]]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p.get("message", p)) for p in problems))
