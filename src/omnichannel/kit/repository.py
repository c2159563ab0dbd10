"""What every module's repository shares.

Repositories here are modules of plain async functions over SQLAlchemy Core/ORM statements, one
module per domain module, so all SQL of a module sits in one file. This is the little they share.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Stay well under SQLite's bound-parameter limit (32,766) and PostgreSQL's (65,535) in IN (…) lists.
CHUNK = 900


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
