"""``executemany`` without SQLAlchemy's per-row parameter processing.

For a batch, SQLAlchemy builds every row's parameters through its general machinery;
for a few hundred rows that was most of a flush's CPU on SQLite. Here a statement is
compiled once per dialect, each row becomes a tuple in the driver's order, and only
the columns whose type converts values (times) are converted, by the type's own
processor, so the stored values are exactly what SQLAlchemy would store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any]


@functools.cache
def _driver_form(stmt: Any, dialect: Dialect) -> tuple[str, tuple[tuple[str, Any, Any], ...]]:
    """The statement's text and, per driver parameter in order: its name, the value the
    statement fixes itself (a literal, or None) and the processor its type needs."""
    compiled = stmt.compile(dialect=dialect)
    fixed = compiled.construct_params(_check=False)
    params = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        literal = None if bind.required else (fixed[name],)
        params.append((name, literal, processor))
    return str(compiled), tuple(params)


async def execute_many(
    conn: AsyncConnection, stmt: Any, params: Sequence[Mapping[str, Any]]
) -> None:
    """Run ``stmt`` (built once, its parameters all named) for each mapping."""
    if not params:
        return
    sql, form = _driver_form(stmt, conn.dialect)
    rows = [
        tuple(
            _value(p[name] if literal is None else literal[0], convert)
            for name, literal, convert in form
        )
        for p in params
    ]
    await conn.exec_driver_sql(sql, rows)


def _value(value: Any, convert: Processor | None) -> Any:
    return value if convert is None else convert(value)
