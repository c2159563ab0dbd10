"""What every module's repository shares.

Repositories here are modules of plain async functions over SQLAlchemy Core/ORM statements, one
module per domain module, so all SQL of a module sits in one file. This is the little they share.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, bindparam

T = TypeVar("T")

# Stay well under SQLite's bound-parameter limit (32,766) and PostgreSQL's (65,535) in IN (…) lists.
CHUNK = 900


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_values(column: Any, name: str) -> ColumnElement[bool]:
    """``column IN (:name)`` with one expanding parameter, filled in at execution.

    Building ``column.in_(values)`` makes a bound-parameter object per value on every call (a
    hot spot at 1,000 values a batch); an expanding parameter is one object and a cached statement.
    """
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]
