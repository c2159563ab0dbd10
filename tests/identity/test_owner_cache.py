"""An ingesting process remembers who holds an identifier, and never answers from a stale memory.

Each test has two platforms on one database, as two processes would: ``shop`` ingests (and
remembers owners), ``office`` merges, splits or erases. Whatever ``office`` commits, the next
event ``shop`` stores resolves as the identities table says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from omnichannel.config import Settings
from omnichannel.events.models import DISCARDED, PENDING, RESOLVED, Event
from omnichannel.events.sources import SourceInfo
from omnichannel.identity import service as identity
from omnichannel.identity.cache import OwnerCache
from omnichannel.identity.models import Identity
from omnichannel.kit.clock import FrozenClock
from omnichannel.platform import Platform
from omnichannel.profiles import service as profiles
from tests.helpers import drain, make_source


@pytest.fixture
async def office(settings: Settings, clock: FrozenClock) -> AsyncIterator[Platform]:
    platform = Platform(settings, clock)
    yield platform
    await platform.close()


async def send(shop: Platform, source: SourceInfo, message_id: str, **ids: Any) -> int:
    message = {"type": "page", "messageId": message_id, **ids}
    accepted, verdicts = shop.ingestor.accept(source, [message], received_at=shop.rt.clock.now())
    assert all(v.accepted for v in verdicts)
    return await shop.ingestor.store(accepted)


async def stored(platform: Platform, message_id: str) -> tuple[int, str | None]:
    async with platform.rt.db.read() as session:
        query = select(Event.status, Event.profile_id).where(Event.message_id == message_id)
        status, profile_id = (await session.execute(query)).one()
    return status, profile_id


async def holder(platform: Platform, type_: str, value: str) -> str | None:
    async with platform.rt.db.read() as session:
        return await identity.lookup(session, platform.rules, type_, value)


async def remembered_visitor(shop: Platform, office: Platform) -> tuple[SourceInfo, str, str]:
    """Ann (a user id) and a visitor, two profiles; ``shop`` has resolved both from memory."""
    web = await shop.sources.authenticate(await make_source(shop))
    await send(shop, web, "a0", userId="ann")
    await send(shop, web, "v0", anonymousId="visitor")
    await drain(office)
    assert await send(shop, web, "a1", userId="ann") == 0
    assert await send(shop, web, "v1", anonymousId="visitor") == 0
    ann, visitor = (
        await holder(shop, "user_id", "ann"),
        await holder(shop, "anonymous_id", "visitor"),
    )
    assert ann and visitor and ann != visitor
    return web, ann, visitor


async def log_in(office: Platform, web: SourceInfo) -> str:
    """The visitor logs in as Ann, in ``office``: the two profiles merge. Returns the survivor."""
    await send(office, web, "login", userId="ann", anonymousId="visitor")
    await drain(office)
    survivor = await holder(office, "user_id", "ann")
    assert survivor and survivor == await holder(office, "anonymous_id", "visitor")
    return survivor


async def test_a_merge_committed_elsewhere_moves_what_the_process_remembers(
    platform: Platform, office: Platform
) -> None:
    shop = platform
    web, _, _ = await remembered_visitor(shop, office)
    survivor = await log_in(office, web)
    assert await send(shop, web, "v2", anonymousId="visitor") == 0
    assert await stored(shop, "v2") == (RESOLVED, survivor)


async def test_merges_of_other_customers_leave_what_is_remembered(
    platform: Platform, office: Platform
) -> None:
    shop = platform
    web = await shop.sources.authenticate(await make_source(shop))
    await send(shop, web, "a0", userId="ann")
    await drain(office)
    cache, ann = OwnerCache(8), "user_id:ann"

    async def look_up() -> list[str]:
        async with shop.rt.db.write() as session:
            found = await cache.owners(session, [ann], shop.rt.clock.now())
        return [owner.profile_id for owner in found]

    first = await look_up()
    assert ann in cache
    # More profiles change hands than the cache holds identifiers: only theirs would matter.
    for n in range(6):
        await send(office, web, f"u{n}", userId=f"user {n}")
        await send(office, web, f"v{n}", anonymousId=f"visitor {n}")
        await drain(office)
        await send(office, web, f"login {n}", userId=f"user {n}", anonymousId=f"visitor {n}")
        await drain(office)
    assert await look_up() == first
    assert ann in cache and len(cache) == 1
    # Ann's own merge drops her, and the lookup reads the survivor from the table.
    await send(office, web, "v", anonymousId="visitor")
    await drain(office)
    survivor = await log_in(office, web)
    assert await look_up() == [survivor]


async def test_a_split_committed_elsewhere_gives_the_identifiers_back(
    platform: Platform, office: Platform
) -> None:
    shop = platform
    web, ann, visitor = await remembered_visitor(shop, office)
    survivor = await log_in(office, web)
    loser = visitor if survivor == ann else ann
    await send(shop, web, "v2", anonymousId="visitor")
    await send(shop, web, "a2", userId="ann")
    assert await stored(shop, "v2") == await stored(shop, "a2") == (RESOLVED, survivor)
    async with office.rt.db.write() as session:
        await identity.split(office.rt, session, loser, None)
    assert await send(shop, web, "v3", anonymousId="visitor") == 0
    assert await send(shop, web, "a3", userId="ann") == 0
    assert await stored(shop, "v3") == (RESOLVED, visitor)
    assert await stored(shop, "a3") == (RESOLVED, ann)


async def test_an_erasure_committed_elsewhere_is_not_answered_from_memory(
    platform: Platform, office: Platform
) -> None:
    shop = platform
    web, ann, _ = await remembered_visitor(shop, office)
    async with office.rt.db.write() as session:
        job = await profiles.request_erasure(office.rt, session, ann)
    await profiles.erase(office.rt, {"job_id": job.id, "profile_id": ann})
    assert await send(shop, web, "a2", userId="ann") == 1  # unknown now: the worker's
    assert await stored(shop, "a2") == (PENDING, None)
    await drain(office)
    assert await stored(shop, "a2") == (DISCARDED, None)  # suppressed, as after any erasure


async def test_a_process_away_longer_than_the_notes_are_kept_forgets_everything(
    platform: Platform, office: Platform, clock: FrozenClock
) -> None:
    shop = platform
    web, _, _ = await remembered_visitor(shop, office)
    survivor = await log_in(office, web)
    # The notes of the merge are pruned when the next ones are written, two hours later.
    clock.advance(timedelta(hours=2))
    await send(office, web, "b0", userId="bob")
    await send(office, web, "b1", anonymousId="bob's phone")
    await drain(office)
    await send(office, web, "b2", userId="bob", anonymousId="bob's phone")
    await drain(office)
    async with office.rt.db.read() as session:
        notes = (await session.execute(text("SELECT count(*) FROM identity_owner_changes"))).one()
    assert notes[0] == 1  # bob's merge; ann's was pruned
    assert await send(shop, web, "v2", anonymousId="visitor") == 0
    assert await stored(shop, "v2") == (RESOLVED, survivor)


async def test_last_seen_times_of_a_failed_commit_are_forgotten(
    platform: Platform, backend: str, clock: FrozenClock
) -> None:
    if backend != "postgresql":
        pytest.skip("fails a commit with a deferred constraint trigger, a PostgreSQL feature")
    shop = platform
    web = await shop.sources.authenticate(await make_source(shop))
    await send(shop, web, "a0", userId="ann")
    await drain(shop)
    precision = timedelta(seconds=shop.settings.last_seen_precision_seconds)
    async with shop.rt.db.write() as session:
        for statement in (
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$",
            "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON events "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()",
        ):
            await session.execute(text(statement))
    try:
        clock.advance(precision)
        with pytest.raises(Exception, match="refused at commit"):
            await send(shop, web, "a1", userId="ann")  # moved last_seen, then failed to commit
    finally:
        async with shop.rt.db.write() as session:
            await session.execute(text("DROP TRIGGER refuse ON events"))
            await session.execute(text("DROP FUNCTION refuse()"))
    clock.advance(timedelta(seconds=1))
    assert await send(shop, web, "a2", userId="ann") == 0
    async with shop.rt.db.read() as session:
        query = select(Identity.last_seen).where(Identity.key == "user_id:ann")
        assert (await session.execute(query)).scalar_one() == clock.now()
