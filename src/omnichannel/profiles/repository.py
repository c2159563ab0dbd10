"""All SQL of the profiles module: last-write-wins upserts of traits and consents."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.kit.db import Database, dialect_insert
from omnichannel.kit.orm import table_of
from omnichannel.kit.repository import chunked
from omnichannel.profiles.models import Consent, Trait

traits = table_of(Trait)
consents = table_of(Consent)


def _newer(table: Table, excluded: Any) -> Any:
    """The incoming row wins if it is from a later event (event id breaks a tie in time)."""
    return or_(
        table.c.updated_at < excluded.updated_at,
        and_(
            table.c.updated_at == excluded.updated_at,
            func.coalesce(table.c.event_id, 0) <= func.coalesce(excluded.event_id, 0),
        ),
    )


async def upsert_latest(
    db: Database, session: AsyncSession, table: Table, keys: list[str], rows: list[dict[str, Any]]
) -> None:
    """Insert rows into ``traits`` or ``consents``; an existing row changes only if older."""
    if rows:
        await session.execute(_upsert(db.dialect, table, tuple(keys)), rows)


@cache  # built once per table: making the statement cost more than running it for a few rows
def _upsert(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    statement = dialect_insert(dialect, table)
    values = [c.name for c in table.c if c.name not in keys]
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in values},
        where=_newer(table, statement.excluded),
    )


async def traits_of(session: AsyncSession, profile_id: str) -> list[Trait]:
    query = select(Trait).where(Trait.profile_id == profile_id).order_by(Trait.key)
    return list((await session.execute(query)).scalars())


async def consents_of(session: AsyncSession, profile_id: str) -> list[Consent]:
    query = (
        select(Consent)
        .where(Consent.profile_id == profile_id)
        .order_by(Consent.channel, Consent.purpose)
    )
    return list((await session.execute(query)).scalars())


async def rows_of(
    session: AsyncSession, table: Table, profile_ids: Sequence[str]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in chunked(profile_ids):
        query = select(table).where(table.c.profile_id.in_(chunk))
        rows += [dict(row._mapping) for row in (await session.execute(query)).all()]
    return rows


async def delete_for(session: AsyncSession, table: Table, profile_ids: Sequence[str]) -> None:
    for chunk in chunked(profile_ids):
        await session.execute(delete(table).where(table.c.profile_id.in_(chunk)))
