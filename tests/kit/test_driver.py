"""Rows written on the driver (kit.driver) read back the same through SQLAlchemy, and the other
way round: the times compare correctly as stored, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from omnichannel.events import repository as events_repo
from omnichannel.events.models import PENDING, Event
from omnichannel.identity import repository as identity_repo
from omnichannel.identity.models import Identity, Profile
from omnichannel.identity.repository import Sighting
from omnichannel.kit.bulk import BulkInsert
from omnichannel.kit.orm import table_of
from omnichannel.platform import Platform
from omnichannel.profiles.search_models import SearchTerm
from tests.helpers import START, make_source

pytestmark = pytest.mark.usefixtures("backend")

# A whole second: the text SQLite stores must still carry its six fractional digits.
WHOLE = START.replace(microsecond=0)
KYIV = timezone(timedelta(hours=2))


def event_row(source_id: str, message_id: str, at: datetime) -> dict[str, object]:
    return {
        "source_id": source_id,
        "message_id": message_id,
        "type": "track",
        "name": "Viewed",
        "channel": "web",
        "user_id": "u1",
        "anonymous_id": None,
        "timestamp": at,
        "received_at": at,
        "payload": {"event": "Viewed", "big": 2**53 + 1, "text": "ünïcode"},
        "profile_id": None,
        "status": PENDING,
    }


async def test_events_written_on_the_driver_read_back_through_the_orm(platform: Platform) -> None:
    key = await make_source(platform, "web")
    source = await platform.sources.authenticate(key)
    later = (WHOLE + timedelta(seconds=1, microseconds=5)).astimezone(KYIV)
    async with platform.rt.db.write() as session:
        ids = await events_repo.insert_events(
            session, [event_row(source.id, "m1", WHOLE), event_row(source.id, "m2", later)]
        )
        again = await events_repo.insert_events(session, [event_row(source.id, "m1", WHOLE)])
        # A retry in the middle of new rows: only the new ones are inserted, each with its id.
        mixed = await events_repo.insert_events(
            session,
            [event_row(source.id, m, WHOLE) for m in ("m3", "m2", "m4", "m4")],
        )
    assert set(ids) == {(source.id, "m1"), (source.id, "m2")} and again == {}
    assert set(mixed) == {(source.id, "m3"), (source.id, "m4")}
    async with platform.rt.db.read() as session:
        rows = (await session.execute(select(Event).order_by(Event.id))).scalars().all()
        exact = select(Event.message_id).where(Event.timestamp == WHOLE).order_by(Event.id)
        found = (await session.execute(exact)).scalars().all()
    assert [r.message_id for r in rows] == ["m1", "m2", "m3", "m4"]
    assert [r.timestamp for r in rows] == [WHOLE, later.astimezone(UTC), WHOLE, WHOLE]
    assert rows[0].payload == {"event": "Viewed", "big": 2**53 + 1, "text": "ünïcode"}
    assert {r.message_id: r.id for r in rows} == {m: i for (_, m), i in (ids | mixed).items()}
    assert found == ["m1", "m3", "m4"]


async def test_last_seen_moves_forward_only_and_reads_back_exact(platform: Platform) -> None:
    async with platform.rt.db.write() as session:
        session.add(Profile(id="p1", created_at=WHOLE, version=1, merged_into=None))
        await session.flush()
        session.add(
            Identity(
                key="email:a@b.co",
                type="email",
                value="a@b.co",
                profile_id="p1",
                source_id=None,
                first_seen=WHOLE,
                last_seen=WHOLE,
            )
        )
    async with platform.rt.db.write() as session:
        [owner] = await identity_repo.identities_by_key(session, ["email:a@b.co", "email:x@y.z"])
        assert owner == ("email:a@b.co", "p1", WHOLE, WHOLE, 0)  # the version only when asked
        [owner] = await identity_repo.identities_by_key(session, ["email:a@b.co"], versions=True)
        assert owner == ("email:a@b.co", "p1", WHOLE, WHOLE, 1)
        an_hour_later, a_day_before = WHOLE + timedelta(hours=1), WHOLE - timedelta(days=1)
        await identity_repo.touch_identities(
            session, [Sighting("email:a@b.co", an_hour_later, WHOLE, None)]
        )
        # Older than what is stored now: last_seen never moves back, nor first_seen forward.
        await identity_repo.touch_identities(
            session, [Sighting("email:a@b.co", WHOLE + timedelta(0, 1), WHOLE + timedelta(1), "s")]
        )
        # An earlier event: first_seen moves back, with its source; last_seen stays.
        await identity_repo.touch_identities(
            session, [Sighting("email:a@b.co", a_day_before, a_day_before, "app")]
        )
    async with platform.rt.db.read() as session:
        stored = (
            await session.execute(
                select(Identity.first_seen, Identity.last_seen, Identity.source_id)
            )
        ).one()
    assert tuple(stored) == (a_day_before, an_hour_later, "app")


async def test_a_write_on_the_driver_rolls_back_with_its_session(platform: Platform) -> None:
    # The insert is the session's first statement: on PostgreSQL nothing has begun the
    # transaction yet, and the write must still be part of it.
    key = await make_source(platform, "web")
    source = await platform.sources.authenticate(key)
    with pytest.raises(RuntimeError):
        async with platform.rt.db.write() as session:
            await events_repo.insert_events(session, [event_row(source.id, "m1", WHOLE)])
            raise RuntimeError("the transaction fails after the insert")
    async with platform.rt.db.read() as session:
        assert (await session.execute(select(Event.id))).first() is None


async def test_a_bulk_insert_bigger_than_one_sqlite_statement_writes_every_row_once(
    platform: Platform,
) -> None:
    """kit.bulk: SQLite takes the rows in chunks, PostgreSQL in one statement; either way every
    row lands, and the conflict clause skips the ones already there."""
    rows = [{"term": f"term-{n:05}", "profile_id": f"p{n % 7}"} for n in range(40_000)]
    insert = BulkInsert(table_of(SearchTerm), tail="ON CONFLICT DO NOTHING")
    async with platform.rt.db.write() as session:
        await insert.run(session, rows[:100])
        await insert.run(session, rows)
    async with platform.rt.db.read() as session:
        stored = (await session.execute(select(SearchTerm.term, SearchTerm.profile_id))).all()
    assert sorted(stored) == sorted((r["term"], r["profile_id"]) for r in rows)


async def test_a_bulk_insert_never_cuts_a_value_short(platform: Platform) -> None:
    """A text longer than its column is written whole (SQLite) or refused (PostgreSQL), never
    cut to the column's length in passing, where two values could become one."""
    term = "t" * 250  # SearchTerm.term holds 200 characters
    insert = BulkInsert(table_of(SearchTerm), tail="ON CONFLICT DO NOTHING")
    try:
        async with platform.rt.db.write() as session:
            await insert.run(session, [{"term": term, "profile_id": "p1"}])
    except DBAPIError as exc:  # as SQLAlchemy raises it, with the driver's SQLSTATE
        assert getattr(exc.orig, "sqlstate", None) == "22001"  # string_data_right_truncation
        return
    async with platform.rt.db.read() as session:
        assert (await session.execute(select(SearchTerm.term))).scalar_one() == term


async def test_a_payload_given_serialised_and_a_shared_time_read_back_as_given(
    platform: Platform,
) -> None:
    """Ingestion hands the log its payloads already serialised (``orjson.Fragment``) and every
    event of a call the same ``received_at`` object; each row still reads back as its own."""
    source_id = (await platform.sources.authenticate(await make_source(platform, "web"))).id
    received = START + timedelta(seconds=5)
    rows = []
    for n in range(3):
        row = event_row(source_id, f"m{n}", START + timedelta(seconds=n))
        row["received_at"] = received
        if n != 1:
            row["payload"] = orjson.Fragment(orjson.dumps(row["payload"]))
        rows.append(row)
    async with platform.rt.db.write() as session:
        await events_repo.insert_events(session, rows)
    async with platform.rt.db.read() as session:
        stored = (await session.execute(select(Event).order_by(Event.message_id))).scalars().all()
    assert [e.timestamp for e in stored] == [START + timedelta(seconds=n) for n in range(3)]
    assert {e.received_at for e in stored} == {received}
    assert all(e.payload == event_row(source_id, "", START)["payload"] for e in stored)
