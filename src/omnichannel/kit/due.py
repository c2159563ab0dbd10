"""Due-row claiming: the one way long waits and retries are picked up when their time comes.

A table that holds work for later has a ``due_at`` column. ``claim_due`` takes the rows whose time
has come and pushes their ``due_at`` a lease into the future in the same transaction: if the
claimer dies, the lease runs out and the rows come due again, so nothing is lost. On PostgreSQL
``FOR UPDATE SKIP LOCKED`` lets several workers claim from one table without waiting on or
taking each other's rows; SQLite has one writer at a time, which gives the same guarantee.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession


async def claim_due(
    session: AsyncSession,
    table: Table,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    skip_locked: bool,
    where: ColumnElement[bool] | None = None,
) -> list[Any]:
    """Claim up to ``limit`` due rows of ``table``; returns them as they were before the lease."""
    due_at = table.c.due_at
    query = select(table).where(due_at <= now).order_by(due_at).limit(limit)
    if where is not None:
        query = query.where(where)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    rows = list((await session.execute(query)).all())
    if rows:
        ids = [row.id for row in rows]
        await session.execute(update(table).where(table.c.id.in_(ids)).values(due_at=now + lease))
    return rows
