"""All SQL of the events module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.events.models import FAILED, PENDING, RESOLVED, Event, Source, name_of
from omnichannel.kit.bulk import BulkInsert
from omnichannel.kit.driver import DriverConnection
from omnichannel.kit.orm import table_of
from omnichannel.kit.repository import chunked

events = table_of(Event)


# Every column but the id: the log's append (conflicts are retries, and are skipped).
_COLUMNS = [c.name for c in events.c if c.name != "id"]
_SKIP_RETRIES = "ON CONFLICT (source_id, message_id) DO NOTHING"
_INSERT = BulkInsert(events, _COLUMNS, f"{_SKIP_RETRIES} RETURNING id, source_id, message_id")
_APPEND_SQLITE = BulkInsert(events, _COLUMNS, _SKIP_RETRIES)
_LAST_ID = "SELECT coalesce(max(id), 0) FROM events"
_SINCE = "SELECT id, source_id, message_id FROM events WHERE id > ?"


async def insert_events(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Append to the log; a (source, messageId) already there is skipped: retries never double.

    Returns the id of each row inserted, by (source_id, message_id). Every event pays this
    statement, so it is one driver call for the whole group (kit.bulk)."""
    if not rows:
        return {}
    driver = await DriverConnection.of(session, writes=True)
    if not driver.sqlite:
        inserted = await _INSERT.run(session, rows)
    else:
        # SQLite: one cached statement for every row (kit.bulk), and the ids without RETURNING.
        # The transaction is the only writer (BEGIN IMMEDIATE), and a new row's id is one above
        # the largest, so if every row went in, they hold the ids after the largest before.
        before = (await driver.fetch(_LAST_ID, []))[0][0]
        await _APPEND_SQLITE.run(session, rows)
        after = (await driver.fetch(_LAST_ID, []))[0][0]
        if after - before == len(rows):
            return {(r["source_id"], r["message_id"]): before + n for n, r in enumerate(rows, 1)}
        inserted = await driver.fetch(_SINCE, [before])  # some were retries: read the rest back
    return {(source_id, message_id): id_ for id_, source_id, message_id in inserted}


async def claim_pending(session: AsyncSession, limit: int, skip_locked: bool) -> list[Any]:
    query = (
        select(
            events.c.id,
            events.c.source_id,
            events.c.type,
            events.c.channel,
            events.c.timestamp,
            events.c.payload,
        )
        .where(events.c.status == PENDING)
        .order_by(events.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).all())


_MARK_SQLITE = "UPDATE events SET profile_id = ?2, status = ?3 WHERE id = ?1"
_MARK_PG = (
    "UPDATE events AS e SET profile_id = x.p, status = x.s "
    "FROM unnest($1::bigint[], $2::varchar[], $3::smallint[]) AS x(i, p, s) WHERE e.id = x.i"
)


async def mark_processed(
    session: AsyncSession, rows: Sequence[tuple[int, str | None, int]]
) -> None:
    """Set each (event id, profile id, status): on PostgreSQL one statement for all (kit.bulk
    says why), on SQLite one executemany on the driver."""
    if rows:
        driver = await DriverConnection.of(session, writes=True)
        if driver.sqlite:
            await driver.execute_many(_MARK_SQLITE, rows)
        else:
            await driver.fetch(_MARK_PG, [list(column) for column in zip(*rows, strict=True)])


async def set_aside(session: AsyncSession, event_ids: Sequence[int]) -> None:
    """Pending events that cannot be processed leave the backlog (``FAILED``)."""
    await session.execute(
        update(events)
        .where(events.c.id.in_(event_ids), events.c.status == PENDING)
        .values(status=FAILED)
    )


async def set_aside_payloads(session: AsyncSession) -> list[Any]:
    """Every set-aside event's id, type and payload (normally none: see ``set_aside``)."""
    query = select(events.c.id, events.c.type, events.c.payload).where(events.c.status == FAILED)
    return list((await session.execute(query)).all())


async def retry_failed(session: AsyncSession) -> int:
    """Every set-aside event back into the backlog; returns how many."""
    done = await session.execute(
        update(events).where(events.c.status == FAILED).values(status=PENDING)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


async def replace_payloads(
    session: AsyncSession, rows: Sequence[tuple[int, dict[str, Any]]]
) -> None:
    """Store each (event id, payload) in place of what was sent, with the user and anonymous id
    and name columns as the new payload has them (erased identifiers taken out: an alias's
    previous id is its name)."""
    for event_id, payload in rows:  # rare: only events that carried erased identifiers
        await session.execute(
            update(events)
            .where(events.c.id == event_id)
            .values(
                payload=payload,
                user_id=_text_or_none(payload.get("userId")),
                anonymous_id=_text_or_none(payload.get("anonymousId")),
                name=name_of(payload),
            )
        )


def _text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    oldest_pending_received_at: datetime | None
    set_aside: int

    def oldest_wait_seconds(self, now: datetime) -> float:
        """How long the oldest pending event has waited (0 with none pending)."""
        oldest = self.oldest_pending_received_at
        return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


async def backlog(session: AsyncSession) -> Backlog:
    """What waits for the worker and what it set aside, in one statement (both counts read
    their partial indexes, which hold only such rows)."""

    def count(status: int) -> Any:
        return select(func.count()).select_from(events).where(events.c.status == status)

    oldest = select(events.c.received_at).where(events.c.status == PENDING).order_by(events.c.id)
    query = select(
        count(PENDING).scalar_subquery(),
        oldest.limit(1).scalar_subquery(),
        count(FAILED).scalar_subquery(),
    )
    pending, received_at, set_aside = (await session.execute(query)).one()
    return Backlog(int(pending), received_at, int(set_aside))


# Events the customer made, not changes made to their profile through the API itself (the
# system source's): in the same statement, so a profile read pays no extra round trip.
customers_own = events.c.source_id.is_distinct_from(
    select(Source.id).where(Source.is_system).scalar_subquery()
)


async def stats(session: AsyncSession, profile_ids: Sequence[str]) -> list[Any]:
    query = (
        select(
            events.c.channel,
            events.c.type,
            func.count().label("n"),
            func.min(events.c.timestamp).label("first"),
            func.max(events.c.timestamp).label("last"),
        )
        .where(events.c.profile_id.in_(profile_ids), events.c.status == RESOLVED, customers_own)
        .group_by(events.c.channel, events.c.type)
    )
    return list((await session.execute(query)).all())


async def latest(session: AsyncSession, profile_ids: Sequence[str]) -> Any | None:
    query = (
        select(events.c.channel, events.c.timestamp)
        .where(events.c.profile_id.in_(profile_ids), events.c.status == RESOLVED, customers_own)
        .order_by(events.c.timestamp.desc(), events.c.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).first()


async def timeline(
    session: AsyncSession,
    profile_ids: Sequence[str],
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
    channels: Sequence[str] = (),
    types: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Any]:
    """Events of these profiles, newest first, joined with their source."""
    query = (
        select(
            events,
            Source.name.label("source_name"),
            Source.kind.label("source_kind"),
            Source.is_system.label("source_is_system"),
        )
        .join(Source, Source.id == events.c.source_id)
        .where(events.c.profile_id.in_(profile_ids), events.c.status == RESOLVED)
        .order_by(events.c.timestamp.desc(), events.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        at, event_id = before
        query = query.where(
            or_(
                events.c.timestamp < at,
                (events.c.timestamp == at) & (events.c.id < event_id),
            )
        )
    if channels:
        query = query.where(events.c.channel.in_(channels))
    if types:
        query = query.where(events.c.type.in_(types))
    if since is not None:
        query = query.where(events.c.timestamp >= since)
    if until is not None:
        query = query.where(events.c.timestamp < until)
    return list((await session.execute(query)).all())


async def identify_events(session: AsyncSession, profile_ids: Sequence[str]) -> list[Any]:
    """Every resolved identify of these profiles, oldest first: what traits are rebuilt from."""
    query = (
        select(events.c.id, events.c.timestamp, events.c.payload)
        .where(
            events.c.profile_id.in_(profile_ids),
            events.c.status == RESOLVED,
            events.c.type == "identify",
        )
        .order_by(events.c.timestamp, events.c.id)
    )
    return list((await session.execute(query)).all())


async def resolved_since(
    session: AsyncSession, profile_ids: Sequence[str], first_id: int | None
) -> list[Any]:
    """The resolved events of these profiles from event ``first_id`` on (None: all), each
    saying whether the API made it (``from_api``: a change the system source recorded)."""
    rows: list[Any] = []
    for chunk in chunked(profile_ids):
        query = select(events.c.id, events.c.payload, (~customers_own).label("from_api")).where(
            events.c.profile_id.in_(chunk), events.c.status == RESOLVED
        )
        if first_id is not None:
            query = query.where(events.c.id >= first_id)
        rows.extend((await session.execute(query)).all())
    return rows


async def payloads(session: AsyncSession, event_ids: Sequence[int]) -> list[Any]:
    rows: list[Any] = []
    for chunk in chunked(event_ids):
        query = select(events.c.id, events.c.profile_id, events.c.payload).where(
            events.c.id.in_(chunk)
        )
        rows.extend((await session.execute(query)).all())
    return rows


async def move_to_profile(session: AsyncSession, event_ids: Sequence[int], profile_id: str) -> None:
    for chunk in chunked(event_ids):
        await session.execute(
            update(events).where(events.c.id.in_(chunk)).values(profile_id=profile_id)
        )


async def delete_for_profiles(
    session: AsyncSession, profile_ids: Sequence[str], *, per_statement: int = 10_000
) -> int:
    """Delete the events of these profiles, ``per_statement`` at a time: a customer with years
    of events is not one statement that outlasts OMNI_DATABASE_STATEMENT_TIMEOUT_SECONDS."""
    deleted = 0
    while True:
        some = select(events.c.id).where(events.c.profile_id.in_(profile_ids)).limit(per_statement)
        result = await session.execute(delete(events).where(events.c.id.in_(some)))
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
        if result.rowcount < per_statement:  # type: ignore[attr-defined]
            return deleted


# --- sources ---------------------------------------------------------------------------------


async def source_by_key_hash(session: AsyncSession, key_hash: str) -> Source | None:
    query = select(Source).where(Source.write_key_hash == key_hash)
    return (await session.execute(query)).scalar_one_or_none()


async def list_sources(session: AsyncSession) -> list[Source]:
    return list((await session.execute(select(Source).order_by(Source.created_at))).scalars())


async def system_source(session: AsyncSession) -> Source | None:
    return (await session.execute(select(Source).where(Source.is_system))).scalar_one_or_none()
