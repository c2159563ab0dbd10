"""All SQL of the identity module."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.identity.models import (
    OWNER_CHANGES_KEPT,
    Identity,
    Merge,
    OwnerChange,
    Profile,
    Suppression,
)
from omnichannel.kit.bulk import BulkInsert
from omnichannel.kit.db import Database
from omnichannel.kit.driver import DriverConnection, sqlite_rows
from omnichannel.kit.ids import digest
from omnichannel.kit.orm import table_of
from omnichannel.kit.repository import chunked, in_values

_OF_PROFILES = select(Identity.key, Identity.type, Identity.value, Identity.profile_id).where(
    in_values(Identity.profile_id, "ids")
)
_VERSIONS = select(Profile.id, Profile.version).where(in_values(Profile.id, "ids"))
_SUPPRESSED = select(Suppression.key_hash).where(in_values(Suppression.key_hash, "hashes"))
_ANY_SUPPRESSED = select(Suppression.key_hash).limit(1)


class Owner(NamedTuple):
    """Who holds an identifier, when it was first and last seen, and the holder's version (if
    asked)."""

    key: str
    profile_id: str
    last_seen: datetime
    first_seen: datetime
    version: int = 0  # 0 unless asked for (``versions=True``)


class Sighting(NamedTuple):
    """An identifier's newest and earliest event in a transaction, and the earliest's source."""

    key: str
    newest: datetime
    earliest: datetime
    source_id: str | None


_BY_KEY = "SELECT key, profile_id, last_seen, first_seen FROM identities WHERE key {}"
# The holder's version from the same statement, so from the same snapshot as the holder.
_BY_KEY_VERSIONED = (
    "SELECT i.key, i.profile_id, i.last_seen, i.first_seen, p.version FROM identities AS i "
    "JOIN profiles AS p ON p.id = i.profile_id WHERE i.key {}"
)


async def identities_by_key(
    session: AsyncSession, keys: Sequence[str], *, versions: bool = False
) -> list[Owner]:
    """Every event's first question (kit.driver: on the driver)."""
    driver = await DriverConnection.of(session, writes=False)
    sql = _BY_KEY_VERSIONED if versions else _BY_KEY
    if driver.sqlite:
        found = []
        for chunk in chunked(keys):
            found += await driver.fetch(sql.format(f"IN {sqlite_rows(1, len(chunk))}"), chunk)
    else:
        found = await driver.fetch(sql.format("= ANY($1::varchar[])"), [list(keys)])
    return [
        Owner(key, profile_id, driver.read_time(last), driver.read_time(first), *rest)
        for key, profile_id, last, first, *rest in found
    ]


async def identities_of_profiles(session: AsyncSession, profile_ids: Sequence[str]) -> list[Any]:
    rows: list[Any] = []
    for chunk in chunked(profile_ids):
        rows.extend((await session.execute(_OF_PROFILES, {"ids": list(chunk)})).all())
    return rows


async def versions(session: AsyncSession, profile_ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunked(profile_ids):
        rows = (await session.execute(_VERSIONS, {"ids": list(chunk)})).all()
        found.update({row.id: row.version for row in rows})
    return found


async def suppressed(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """The keys among ``keys`` that were erased and must not come back."""
    if (await session.execute(_ANY_SUPPRESSED)).first() is None:
        return set()  # the usual case: nobody was ever erased, so skip hashing every key
    by_hash = {digest(k): k for k in keys}
    found: set[str] = set()
    for chunk in chunked(list(by_hash)):
        hashes = (await session.execute(_SUPPRESSED, {"hashes": list(chunk)})).scalars()
        found.update(by_hash[h] for h in hashes)
    return found


async def bump_versions(session: AsyncSession, expected: dict[str, int]) -> bool:
    """Bump each profile's version if it is still the one read; False if any has moved on."""
    items = sorted(expected.items())
    changed = 0
    for chunk in chunked(items):
        result = await session.execute(
            update(Profile)
            .where(tuple_(Profile.id, Profile.version).in_(chunk))
            .values(version=Profile.version + 1)
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount  # type: ignore[attr-defined]
    return changed == len(items)


async def created_since(
    session: AsyncSession, keys: Sequence[str], since: datetime, after_event: int | None
) -> set[str]:
    later = Identity.created_at > since
    if after_event is not None:  # the same transaction: by the events' order in the log
        later = or_(
            later, and_(Identity.created_at == since, Identity.created_by_event > after_event)
        )
    found: set[str] = set()
    for chunk in chunked(keys):
        query = select(Identity.key).where(Identity.key.in_(chunk), later)
        found.update((await session.execute(query)).scalars())
    return found


async def bump_live(session: AsyncSession, profile_id: str) -> bool:
    """Bump a profile's version, whatever it is, if it is still live; False if it is not."""
    result = await session.execute(
        update(Profile)
        .where(Profile.id == profile_id, Profile.merged_into.is_(None))
        .values(version=Profile.version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_profiles(
    db: Database,
    session: AsyncSession,
    ids: Sequence[str],
    merged_into: dict[str, str],
    at: datetime,
) -> None:
    if ids:
        rows = [
            {"id": i, "created_at": at, "version": 1, "merged_into": merged_into.get(i)}
            for i in ids
        ]
        await session.execute(db.insert(table_of(Profile)), rows)


_INSERT_IDENTITIES = BulkInsert(table_of(Identity))


async def insert_identities(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """New identifiers, in one statement (kit.bulk). Two transactions adding the same one clash
    on the key, and the loser retries (``events.tasks``)."""
    await _INSERT_IDENTITIES.run(session, rows)


# Both times in one statement, so that a transaction takes each row's lock once and in the
# caller's order. SET expressions read the row as it was, so the source is compared with the
# first_seen being replaced.
_TOUCH_SQLITE = (
    "UPDATE identities SET last_seen = max(last_seen, ?1), first_seen = min(first_seen, ?2), "
    "source_id = CASE WHEN ?2 < first_seen THEN coalesce(?3, source_id) ELSE source_id END "
    "WHERE key = ?4 AND (last_seen < ?1 OR first_seen > ?2)"
)
_TOUCH_PG = (
    "UPDATE identities AS i SET last_seen = greatest(i.last_seen, x.l), "
    "first_seen = least(i.first_seen, x.f), source_id = CASE WHEN x.f < i.first_seen "
    "THEN coalesce(x.s, i.source_id) ELSE i.source_id END "
    "FROM unnest($1::varchar[], $2::timestamptz[], $3::timestamptz[], $4::varchar[]) "
    "AS x(k, l, f, s) WHERE i.key = x.k AND (i.last_seen < x.l OR i.first_seen > x.f)"
)


async def touch_identities(session: AsyncSession, seen: Sequence[Sighting]) -> None:
    """Move each identifier's last_seen forward and first_seen back (with the source of that
    first event) to the times given (kit.driver: on the driver).

    The caller sorts by key, so concurrent transactions take the row locks in one order and
    never deadlock: an executemany on SQLite, and on PostgreSQL one statement (kit.bulk says
    why) whose plan walks the array in its order, an index lookup per key."""
    if seen:
        driver = await DriverConnection.of(session, writes=True)
        if driver.sqlite:
            rows = [(driver.time(s.newest), driver.time(s.earliest), s.source_id, s.key)
                    for s in seen]  # fmt: skip
            await driver.execute_many(_TOUCH_SQLITE, rows)
        else:
            await driver.fetch(_TOUCH_PG, [list(column) for column in zip(*seen, strict=True)])


async def move_identities(
    session: AsyncSession, keys: Sequence[str], from_profile: str, to_profile: str, at: datetime
) -> None:
    await record_owner_changes(session, [from_profile, to_profile], at)
    for chunk in chunked(keys):
        await session.execute(
            update(Identity)
            .where(Identity.profile_id == from_profile, Identity.key.in_(chunk))
            .values(profile_id=to_profile)
        )


_MOVE_ALL = (
    update(table_of(Identity))
    .where(table_of(Identity).c.profile_id == bindparam("b_from"))
    .values(profile_id=bindparam("b_to"))
)
_SET_MERGED_INTO = (
    update(table_of(Profile))
    .where(table_of(Profile).c.id == bindparam("b_id"))
    .values(merged_into=bindparam("b_into"))
)


async def move_all_identities(session: AsyncSession, moves: dict[str, str], at: datetime) -> None:
    """Every identifier of each profile in ``moves`` goes to the profile it maps to."""
    if moves:
        await record_owner_changes(session, sorted(moves), at)
        rows = [{"b_from": loser, "b_to": survivor} for loser, survivor in sorted(moves.items())]
        await session.execute(_MOVE_ALL, rows)


async def set_merged_into(session: AsyncSession, targets: Sequence[tuple[str, str | None]]) -> None:
    """Point each profile at the profile it was merged into (None: it is live again)."""
    if targets:
        rows = [{"b_id": profile_id, "b_into": into} for profile_id, into in sorted(targets)]
        await session.execute(_SET_MERGED_INTO, rows)


async def insert_merges(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(table_of(Merge).insert(), rows)


async def get_identity(session: AsyncSession, key: str) -> Identity | None:
    return await session.get(Identity, key)


async def get_profile(session: AsyncSession, profile_id: str) -> Profile | None:
    return await session.get(Profile, profile_id)


async def children(session: AsyncSession, parents: Sequence[str]) -> list[str]:
    query = select(Profile.id).where(Profile.merged_into.in_(parents))
    return list((await session.execute(query)).scalars())


async def identities_of(session: AsyncSession, profile_id: str) -> list[Identity]:
    query = select(Identity).where(Identity.profile_id == profile_id).order_by(Identity.first_seen)
    return list((await session.execute(query)).scalars())


async def merges_touching(session: AsyncSession, profile_ids: Sequence[str]) -> list[Merge]:
    query = (
        select(Merge)
        .where(or_(Merge.survivor_id.in_(profile_ids), Merge.loser_id.in_(profile_ids)))
        .order_by(Merge.merged_at, Merge.id)
    )
    return list((await session.execute(query)).scalars())


async def get_merge(session: AsyncSession, merge_id: str) -> Merge | None:
    return await session.get(Merge, merge_id)


async def latest_open_merge(session: AsyncSession, field: Any, profile_id: str) -> Merge | None:
    query = (
        select(Merge)
        .where(field == profile_id, Merge.split_at.is_(None))
        .order_by(Merge.merged_at.desc(), Merge.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def mark_split(session: AsyncSession, merge_id: str, at: datetime) -> None:
    await session.execute(update(Merge).where(Merge.id == merge_id).values(split_at=at))


async def erase(
    db: Database, session: AsyncSession, profile_ids: Sequence[str], at: datetime
) -> list[str]:
    """Delete the profiles, their identifiers and merge rows; suppress the identifiers, whose
    keys it returns."""
    await record_owner_changes(session, profile_ids, at)
    keys: list[str] = []
    for chunk in chunked(profile_ids):
        query = select(Identity.key).where(Identity.profile_id.in_(chunk))
        keys.extend((await session.execute(query)).scalars())
    if keys:
        rows = [{"key_hash": digest(k), "created_at": at} for k in keys]
        await session.execute(db.insert(table_of(Suppression)).on_conflict_do_nothing(), rows)
    for chunk in chunked(profile_ids):
        await session.execute(delete(Identity).where(Identity.profile_id.in_(chunk)))
        await session.execute(
            delete(Merge).where(or_(Merge.survivor_id.in_(chunk), Merge.loser_id.in_(chunk)))
        )
        await session.execute(delete(Profile).where(Profile.id.in_(chunk)))
    return keys


# --- owner changes (identity.cache) ----------------------------------------------------------

_OWNER_CHANGES = table_of(OwnerChange)
# PostgreSQL: xid8 has no cast to bigint but through text; 64 bits, so it never wraps.
_TXID = "pg_current_xact_id()::text::bigint"
_CHANGES_SQLITE = "SELECT seq, profile_id FROM identity_owner_changes WHERE seq > ?"
_CURSOR_SQLITE = "SELECT coalesce(max(seq), 0) FROM identity_owner_changes"
# Rows of every transaction that was still running at the last read, and the oldest transaction
# running now: rows of older ones are all committed (or gone) and were read, by this or an
# earlier call.
_CURSOR_PG = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_CHANGES_PG = (
    f"{_CURSOR_PG}, (SELECT array_agg(profile_id) FROM identity_owner_changes WHERE txid >= $1)"
)


async def record_owner_changes(
    session: AsyncSession, profile_ids: Sequence[str], at: datetime
) -> None:
    """Note that these profiles' identifiers changed hands, and prune notes past their time."""
    if not profile_ids:
        return
    table = _OWNER_CHANGES
    statement = insert(table)
    expired = select(table.c.seq).where(table.c.at < at - OWNER_CHANGES_KEPT)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.values(txid=literal_column(_TXID))
        # Two workers pruning at once: each leaves the other's rows alone instead of waiting
        # for them while it holds the locks of its merges.
        expired = expired.with_for_update(skip_locked=True)
    await session.execute(statement, [{"profile_id": p, "at": at} for p in profile_ids])
    await session.execute(delete(table).where(table.c.seq.in_(expired)))


async def owner_changes(session: AsyncSession, cursor: int) -> tuple[int, list[str]]:
    """The profiles noted since ``cursor`` (0: from the start), and the cursor for next time.

    SQLite: every writer is exclusive, so sequence numbers commit in order and the cursor is
    the last one read. PostgreSQL: a transaction takes its number before it commits, so a later
    number can commit first; there the cursor is the oldest transaction running at the read, and
    the rows of every transaction from it on are read again next time."""
    driver = await DriverConnection.of(session, writes=False)
    if driver.sqlite:
        rows = await driver.fetch(_CHANGES_SQLITE, [cursor])
        return max((seq for seq, _ in rows), default=cursor), [p for _, p in rows]
    ((xmin, profile_ids),) = await driver.fetch(_CHANGES_PG, [cursor])
    return int(xmin), list(profile_ids or ())


async def owner_changes_cursor(session: AsyncSession) -> int:
    """Where ``owner_changes`` would start its next read, with no notes read now."""
    driver = await DriverConnection.of(session, writes=False)
    ((cursor,),) = await driver.fetch(_CURSOR_SQLITE if driver.sqlite else _CURSOR_PG, [])
    return int(cursor)
