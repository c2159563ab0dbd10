"""A known customer's event is resolved as it is stored; the rest wait for the worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from omnichannel.events import repository as events_repo
from omnichannel.events.models import PENDING, RESOLVED, Event
from omnichannel.events.sources import SourceInfo
from omnichannel.identity import service as identity
from omnichannel.identity.cache import OwnerCache
from omnichannel.identity.models import Identity
from omnichannel.identity.rules import extract
from omnichannel.kit.clock import FrozenClock
from omnichannel.platform import Platform
from omnichannel.profiles import service as profiles
from tests.helpers import START, drain, make_source


async def web_source(platform: Platform) -> SourceInfo:
    return await platform.sources.authenticate(await make_source(platform))


async def send(platform: Platform, source: SourceInfo, *messages: dict[str, Any]) -> int:
    """Store the messages as ``/v1/batch`` does; returns how many were left for the worker."""
    accepted, verdicts = platform.ingestor.accept(
        source, list(messages), received_at=platform.rt.clock.now()
    )
    assert all(v.accepted for v in verdicts), [v.errors for v in verdicts]
    return await platform.ingestor.store(accepted)


async def statuses(platform: Platform) -> dict[str, tuple[int, str | None]]:
    async with platform.rt.db.read() as session:
        rows = await session.execute(select(Event.message_id, Event.status, Event.profile_id))
        return {m: (status, profile) for m, status, profile in rows}


async def known_customer(platform: Platform, source: SourceInfo) -> str:
    """Ann, with a user id and an email on one profile; returns the profile id."""
    await send(
        platform,
        source,
        {"type": "identify", "messageId": "m0", "userId": "ann", "traits": {"email": "a@x.ua"}},
    )
    await drain(platform)
    async with platform.rt.db.read() as session:
        profile_id = await identity.lookup(session, platform.rules, "user_id", "ann")
    assert profile_id is not None
    return profile_id


async def test_a_known_customers_event_is_resolved_when_it_is_stored(platform: Platform) -> None:
    web = await web_source(platform)
    ann = await known_customer(platform, web)
    left = await send(
        platform,
        web,
        {"type": "track", "messageId": "m1", "userId": "ann", "event": "Product Viewed"},
        {"type": "track", "messageId": "m2", "userId": "new", "event": "Product Viewed"},
        {"type": "alias", "messageId": "m3", "userId": "ann", "previousId": "old"},
    )
    assert left == 2  # a new identifier and an alias are the worker's
    found = await statuses(platform)
    assert found["m1"] == (RESOLVED, ann)
    assert found["m2"] == (PENDING, None) and found["m3"] == (PENDING, None)
    async with platform.rt.db.read() as session:
        items, _ = await profiles.timeline(
            session, ann, limit=10, cursor=None, channels=[], types=[], since=None, until=None
        )
    assert [e["message_id"] for e in items] == ["m1", "m0"]


async def test_identifiers_of_two_profiles_wait_for_the_worker_to_merge(
    platform: Platform,
) -> None:
    web = await web_source(platform)
    await known_customer(platform, web)
    await send(platform, web, {"type": "page", "messageId": "v", "anonymousId": "visitor"})
    await drain(platform)
    left = await send(
        platform,
        web,
        {"type": "identify", "messageId": "login", "userId": "ann", "anonymousId": "visitor"},
    )
    assert left == 1
    await drain(platform)
    async with platform.rt.db.read() as session:
        by_user = await identity.lookup(session, platform.rules, "user_id", "ann")
        by_visitor = await identity.lookup(session, platform.rules, "anonymous_id", "visitor")
    assert by_user == by_visitor


async def test_traits_of_a_known_customer_apply_at_once_on_sqlite(
    platform: Platform, backend: str
) -> None:
    web = await web_source(platform)
    ann = await known_customer(platform, web)
    message = {"type": "identify", "messageId": "m1", "userId": "ann", "traits": {"plan": "pro"}}
    left = await send(platform, web, message)
    # PostgreSQL's concurrent workers need the version check, which is the worker's.
    assert left == (1 if backend == "postgresql" else 0)
    await drain(platform)
    async with platform.rt.db.read() as session:
        view = await profiles.view(session, ann)
    assert view["traits"]["plan"] == "pro"


async def test_a_message_sent_twice_in_one_flush_is_stored_once(platform: Platform) -> None:
    web = await web_source(platform)
    await known_customer(platform, web)
    message = {"type": "track", "messageId": "twice", "userId": "ann", "event": "Order Completed"}
    await asyncio.gather(send(platform, web, message), send(platform, web, message))
    await send(platform, web, message)
    async with platform.rt.db.read() as session:
        rows = (await session.execute(select(Event.id).where(Event.message_id == "twice"))).all()
    assert len(rows) == 1


async def test_last_seen_moves_by_its_precision(platform: Platform, clock: FrozenClock) -> None:
    web = await web_source(platform)
    await known_customer(platform, web)
    precision = timedelta(seconds=platform.settings.last_seen_precision_seconds)

    async def last_seen_after(wait: timedelta, message_id: str) -> Any:
        clock.advance(wait)  # no timestamp in the message: it happened when it was received
        await send(platform, web, {"type": "page", "messageId": message_id, "userId": "ann"})
        async with platform.rt.db.read() as session:
            query = select(Identity.last_seen).where(Identity.key == "user_id:ann")
            return (await session.execute(query)).scalar_one()

    assert await last_seen_after(precision / 2, "soon") == START
    assert await last_seen_after(precision, "later") == START + precision * 3 / 2


async def test_a_late_event_moves_first_seen_back_with_its_source(platform: Platform) -> None:
    """A phone's offline queue delivers events days old: an identifier's first_seen (and the
    source it was first seen from) goes back to them, whether the event is resolved as it is
    stored (a known customer's) or by the worker (it brings a new identifier); last_seen stays."""
    web = await web_source(platform)
    app = await platform.sources.authenticate(await make_source(platform, "app", "App"))
    await known_customer(platform, web)

    async def rows() -> dict[str, tuple[Any, Any, Any]]:
        async with platform.rt.db.read() as session:
            found = await session.execute(
                select(Identity.key, Identity.first_seen, Identity.last_seen, Identity.source_id)
            )
            return {key: (first, last, source) for key, first, last, source in found}

    def ago(days: int) -> str:
        return (START - timedelta(days=days)).isoformat()

    left = await send(platform, app, {"type": "track", "messageId": "late", "userId": "ann",
                                      "event": "Opened", "timestamp": ago(3)})  # fmt: skip
    assert left == 0  # resolved as it was stored
    assert (await rows())["user_id:ann"] == (START - timedelta(days=3), START, app.id)
    phone = {"phone": "+380671234567"}
    await send(platform, app, {"type": "identify", "messageId": "later", "userId": "ann",
                               "timestamp": ago(5), "traits": phone})  # fmt: skip
    await drain(platform)
    now = await rows()
    assert now["user_id:ann"] == (START - timedelta(days=5), START, app.id)
    assert now["phone:+380671234567"][:2] == (START - timedelta(days=5),) * 2
    assert now["email:a@x.ua"] == (START, START, web.id)  # seen by neither


async def test_an_erasure_waits_for_transactions_resolving_events(platform: Platform) -> None:
    # PostgreSQL: the erasure lock; SQLite: the one writer. Either way nothing is resolved to a
    # profile while it is being erased.
    web = await web_source(platform)
    ann = await known_customer(platform, web)
    async with platform.rt.db.write() as session:
        job = await profiles.request_erasure(platform.rt, session, ann)
    erasing: asyncio.Task[None] | None = None
    async with platform.rt.db.write() as session:
        item = identity.Item(0, extract({"userId": "ann"}, platform.rules), START)
        resolved, _ = await identity.resolve_known(platform.rt, session, [item], OwnerCache(0))
        assert resolved == {0: ann}
        erasing = asyncio.create_task(
            profiles.erase(platform.rt, {"job_id": job.id, "profile_id": ann})
        )
        done, _ = await asyncio.wait([erasing], timeout=0.5)
        assert not done, "the erasure ran while an event was being resolved to its profile"
    await erasing
    async with platform.rt.db.read() as session:
        assert await identity.lookup(session, platform.rules, "user_id", "ann") is None


async def test_a_split_waits_for_transactions_resolving_events(platform: Platform) -> None:
    """An event resolved from the owners as they were before a split, and stored after it,
    would stay with the survivor. So a split waits for such a transaction (PostgreSQL: the
    resolution lock; SQLite: the one writer), and then gives the event back."""
    web = await web_source(platform)
    ann = await known_customer(platform, web)
    await send(platform, web, {"type": "identify", "messageId": "m1", "anonymousId": "bo-dev",
                               "traits": {"email": "bo@x.ua"}})  # fmt: skip
    await drain(platform)
    async with platform.rt.db.read() as session:
        bo = await identity.holder(session, platform.rules, "email", "bo@x.ua")
    assert bo is not None and bo != ann
    await send(platform, web, {"type": "identify", "messageId": "m2", "userId": "ann",
                               "anonymousId": "bo-dev"})  # fmt: skip
    await drain(platform)  # a wrong link: bo's profile merged into ann's
    splitting: asyncio.Task[Any] | None = None
    async with platform.rt.db.write() as session:
        item = identity.Item(0, extract({"anonymousId": "bo-dev"}, platform.rules), START)
        resolved, _ = await identity.resolve_known(platform.rt, session, [item], OwnerCache(0))
        assert resolved == {0: ann}
        row = {"source_id": web.id, "message_id": "m3", "type": "track", "name": "Bought",
               "channel": "web", "timestamp": START, "received_at": START,
               "payload": {"type": "track", "anonymousId": "bo-dev", "event": "Bought"},
               "profile_id": ann, "status": RESOLVED, "user_id": None,
               "anonymous_id": "bo-dev"}  # fmt: skip
        await events_repo.insert_events(session, [row])

        async def split() -> None:
            async with platform.rt.db.write() as other:
                await identity.split(platform.rt, other, bo, None)

        splitting = asyncio.create_task(split())
        done, _ = await asyncio.wait([splitting], timeout=0.5)
        assert not done, "the split ran while an event was being resolved from its owners"
    await splitting
    assert (await statuses(platform))["m3"] == (RESOLVED, bo)
