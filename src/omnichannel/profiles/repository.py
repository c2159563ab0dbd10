"""All SQL of the profiles module: last-write-wins upserts of traits and consents."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.kit.bulk import BulkInsert
from omnichannel.kit.orm import table_of
from omnichannel.kit.repository import chunked
from omnichannel.profiles.models import Consent, Trait

traits = table_of(Trait)
consents = table_of(Consent)


async def upsert_latest(
    session: AsyncSession, table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Insert rows into ``traits`` or ``consents``; an existing row changes only if older.
    One statement for all rows (kit.bulk): no key may come twice (``derive.latest_only``)."""
    await _latest_wins(table, keys).run(session, rows)


@cache  # one per table
def _latest_wins(table: Table, keys: tuple[str, ...]) -> BulkInsert:
    """The incoming row wins if it is from a later event (the event id breaks a tie in time)."""
    name = table.name
    values = ", ".join(f"{c.name} = excluded.{c.name}" for c in table.c if c.name not in keys)
    newer = (
        f"{name}.updated_at < excluded.updated_at OR ({name}.updated_at = excluded.updated_at "
        f"AND coalesce({name}.event_id, 0) <= coalesce(excluded.event_id, 0))"
    )
    return BulkInsert(
        table, tail=f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {values} WHERE {newer}"
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
