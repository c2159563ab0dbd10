"""Identity resolution through the real pipeline and database: merges, audit, split, races."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from omnichannel.config import Settings
from omnichannel.events.sources import SourceInfo
from omnichannel.identity import repository as identity_repo
from omnichannel.identity import service as identity
from omnichannel.identity.domain import ProfilesMerged
from omnichannel.identity.models import Identity, Merge
from omnichannel.kit.clock import FrozenClock
from omnichannel.platform import Platform
from omnichannel.profiles import search
from omnichannel.profiles import service as profiles
from omnichannel.profiles.models import Trait
from omnichannel.profiles.search_models import SearchTerm
from tests.conftest import BACKENDS, fresh_database
from tests.helpers import START, drain, make_source

Partition = frozenset[frozenset[str]]


async def source_of(platform: Platform, kind: str = "web") -> SourceInfo:
    key = await make_source(platform, kind)
    return await platform.sources.authenticate(key)


async def send(platform: Platform, source: SourceInfo, messages: list[dict[str, object]]) -> None:
    rows, verdicts = platform.ingestor.accept(source, messages, received_at=platform.rt.clock.now())
    assert all(v.accepted for v in verdicts), [v.errors for v in verdicts]
    await platform.ingestor.store(rows)


async def graph(platform: Platform) -> Partition:
    async with platform.rt.db.read() as session:
        rows = (await session.execute(select(Identity.key, Identity.profile_id))).all()
    groups: dict[str, set[str]] = {}
    for key, profile in rows:
        groups.setdefault(profile, set()).add(key)
    return frozenset(frozenset(g) for g in groups.values())


async def test_merge_is_audited_and_the_old_id_resolves_to_the_survivor(
    platform: Platform,
) -> None:
    web = await source_of(platform)
    await send(platform, web, [{"type": "track", "anonymousId": "a1", "event": "Viewed"}])
    await drain(platform)
    async with platform.rt.db.read() as session:
        anonymous = await identity.lookup(session, platform.rules, "anonymous_id", "a1")
    await send(platform, web, [{"type": "track", "userId": "u1", "event": "Logged In"}])
    await send(platform, web, [{"type": "identify", "userId": "u1", "anonymousId": "a1"}])
    await drain(platform)
    async with platform.rt.db.read() as session:
        survivor = await identity.lookup(session, platform.rules, "user_id", "u1")
        assert anonymous is not None and survivor is not None and anonymous != survivor
        assert await identity.canonical_id(session, anonymous) == survivor
        merges = (await session.execute(select(Merge))).scalars().all()
    assert len(merges) == 1
    merge = merges[0]
    assert (merge.survivor_id, merge.loser_id) == (survivor, anonymous)
    assert merge.identities == ["anonymous_id:a1"]
    assert merge.trigger == "anonymous_id:a1"
    assert merge.event_id is not None
    assert merge.merged_at == START


async def test_two_user_ids_never_merge(platform: Platform) -> None:
    web = await source_of(platform)
    await send(
        platform,
        web,
        [
            {"type": "identify", "userId": "u1", "anonymousId": "shared-tablet"},
            {"type": "identify", "userId": "u2", "anonymousId": "shared-tablet"},
            {"type": "alias", "userId": "u2", "previousId": "u1"},
        ],
    )
    await drain(platform)
    assert await graph(platform) == {
        frozenset({"user_id:u1", "anonymous_id:shared-tablet"}),
        frozenset({"user_id:u2"}),
    }


async def test_split_restores_what_the_merge_joined(platform: Platform) -> None:
    web = await source_of(platform)
    await send(
        platform,
        web,
        [
            {"type": "identify", "anonymousId": "a1", "traits": {"email": "a@x.co", "name": "A"}},
            {"type": "identify", "userId": "u1", "traits": {"name": "U"}},
        ],
    )
    await drain(platform)
    before = await graph(platform)
    await send(platform, web, [{"type": "alias", "userId": "u1", "previousId": "a1"}])
    await drain(platform)
    assert len(await graph(platform)) == 1
    async with platform.rt.db.write() as session:
        survivor = await identity.lookup(session, platform.rules, "user_id", "u1")
        assert survivor is not None
        await identity.split(platform.rt, session, survivor, None)
    assert await graph(platform) == before


async def test_a_chain_of_merges_in_one_batch_ends_in_the_last_survivor(
    platform: Platform,
) -> None:
    """P1 and P2 merge, then their survivor into P3, in one worker batch: P3 gets the newest of
    every trait of all three and their search terms, and both old ids resolve to it."""
    web = await source_of(platform)

    def at(minute: int) -> str:
        return f"2026-05-04T10:{minute:02d}:00Z"

    await send(
        platform,
        web,
        [
            {
                "type": "identify",
                "anonymousId": "v1",
                "timestamp": at(1),
                "traits": {"email": "p1@x.ua", "name": "Oksana", "plan": "free"},
            },
            {
                "type": "identify",
                "anonymousId": "v2",
                "timestamp": at(2),
                "traits": {"phone": "+380671234567", "plan": "basic", "city": "Lviv"},
            },
            {
                "type": "identify",
                "userId": "ann",
                "timestamp": at(0),
                "traits": {"name": "Ann", "plan": "pro", "tier": "gold"},
            },
        ],
    )
    await drain(platform)
    async with platform.rt.db.read() as session:
        p1, p2, p3 = [
            await identity.lookup(session, platform.rules, type_, value)
            for type_, value in (("anonymous_id", "v1"), ("anonymous_id", "v2"), ("user_id", "ann"))
        ]
    assert p1 and p2 and p3 and len({p1, p2, p3}) == 3
    await send(
        platform,
        web,
        [  # v1 (P1) with P2's phone: one of them survives the other
            {"type": "identify", "anonymousId": "v1", "timestamp": at(3),
             "traits": {"phone": "+380671234567"}},
            # ann (P3) with v2, now on that survivor: P3 (a user id) survives it in turn
            {"type": "identify", "userId": "ann", "anonymousId": "v2", "timestamp": at(4)},
        ],
    )  # fmt: skip
    await drain(platform)
    async with platform.rt.db.read() as session:
        merges = (await session.execute(select(Merge.survivor_id, Merge.loser_id))).all()
        (first_survivor, first_loser), (last_survivor, last_loser) = sorted(
            merges, key=lambda m: m[0] == p3
        )
        assert {first_survivor, first_loser} == {p1, p2}
        assert (last_survivor, last_loser) == (p3, first_survivor)  # a chain
        assert await identity.canonical_id(session, p2) == p3
        assert await identity.canonical_id(session, p1) == p3
        shown = await profiles.view(session, p3)
        hits = await search.search(session, platform.rules, "oksana")
        gone = await search.search(session, platform.rules, "380671234567")
    assert shown["traits"] == {
        "email": "p1@x.ua",
        "name": "Oksana",
        "plan": "basic",
        "city": "Lviv",
        "tier": "gold",
        "phone": "+380671234567",
    }
    assert [h.profile_id for h in hits] == [p3]
    assert [h.profile_id for h in gone] == [p3]
    async with platform.rt.db.read() as session:
        terms = (await session.execute(select(SearchTerm.profile_id).distinct())).scalars().all()
        traits = (await session.execute(select(Trait.profile_id).distinct())).scalars().all()
    assert terms == [p3] and traits == [p3]  # nothing left on a merged-away profile


def test_a_chain_of_merges_is_followed_to_its_end() -> None:
    merged = ProfilesMerged((("s", "l1"), ("t", "s"), ("t", "l2")))
    assert merged.survivors() == {"l1": "t", "s": "t", "l2": "t"}


def messages_for(calls: list[list[tuple[str, str]]]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for call in calls:
        message: dict[str, object] = {"type": "identify", "traits": {}}
        for type_, value in call:
            if type_ == "user_id":
                message["userId"] = value
            elif type_ == "anonymous_id":
                message["anonymousId"] = value
            else:
                message["traits"] = {"email": value}
        if "userId" not in message and "anonymousId" not in message:
            message["anonymousId"] = f"anon-{value}"
        out.append(message)
    return out


@st.composite
def person_calls(draw: st.DrawFn) -> list[list[tuple[str, str]]]:
    calls = []
    for p in range(draw(st.integers(1, 3))):
        ids = [("user_id", f"u{p}"), ("anonymous_id", f"a{p}-0"), ("anonymous_id", f"a{p}-1")]
        ids += [("email", f"e{p}@x.co")]
        for _ in range(draw(st.integers(1, 4))):
            calls.append(draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True)))
    return calls


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=person_calls(), seed=st.integers(0, 10_000), batch=st.sampled_from([1, 3, 1000]))
def test_any_order_any_batching_same_profiles(
    calls: list[list[tuple[str, str]]],
    seed: int,
    batch: int,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    template = request.getfixturevalue("sqlite_template")

    async def run(order: list[dict[str, object]]) -> Partition:
        url = await asyncio.to_thread(fresh_database, database_url, template, tmp_path)
        config = Settings(database_url=url, worker_batch_size=batch, sqlite_synchronous="OFF")
        platform = Platform(config, FrozenClock(START))
        try:
            web = await source_of(platform)
            for message in order:
                await send(platform, web, [message])
            await drain(platform)
            return await graph(platform)
        finally:
            await platform.close()

    messages = messages_for(calls)
    shuffled = list(messages)
    random.Random(seed).shuffle(shuffled)
    assert asyncio.run(run(messages)) == asyncio.run(run(shuffled))


async def test_two_workers_racing_on_one_new_identifier_end_in_one_profile(
    settings: Settings,
) -> None:
    """Each worker takes one event; both events bring the same brand-new email."""
    one = Platform(settings.model_copy(update={"worker_batch_size": 1}), FrozenClock(START))
    two = Platform(settings.model_copy(update={"worker_batch_size": 1}), FrozenClock(START))
    try:
        web = await source_of(one)
        for round_ in range(10):
            email = f"new-{round_}@x.co"
            await send(
                one,
                web,
                [
                    {
                        "type": "identify",
                        "anonymousId": f"phone-{round_}",
                        "traits": {"email": email},
                    },
                    {
                        "type": "identify",
                        "anonymousId": f"laptop-{round_}",
                        "traits": {"email": email},
                    },
                ],
            )
            await asyncio.gather(drain(one), drain(two))
            async with one.rt.db.read() as session:
                rows = (
                    await session.execute(
                        select(Identity.profile_id).where(Identity.key.like(f"%-{round_}%"))
                    )
                ).scalars()
                assert len(set(rows)) == 1, f"round {round_} split into several profiles"
    finally:
        await one.close()
        await two.close()


@pytest.mark.parametrize("backend", BACKENDS[1:])  # SQLite's one writer lets nothing in between
async def test_a_merge_committed_while_a_batch_resolves_sends_the_batch_round_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker A has read the graph for an event bringing a visitor's new e-mail when worker B
    merges the visitor into a customer and commits. A must notice and resolve again, not file
    the e-mail under the merged-away visitor."""
    a = Platform(settings.model_copy(update={"worker_batch_size": 1}), FrozenClock(START))
    b = Platform(settings.model_copy(update={"worker_batch_size": 1}), FrozenClock(START))
    try:
        web = await source_of(a)
        await send(a, web, [{"type": "track", "anonymousId": "visitor", "event": "Viewed"}])
        await send(a, web, [{"type": "track", "userId": "u2", "event": "Viewed"}])
        await drain(a)
        await send(
            a, web, [{"type": "identify", "anonymousId": "visitor", "traits": {"email": "v@x.co"}}]
        )
        await send(b, web, [{"type": "identify", "userId": "u2", "anonymousId": "visitor"}])

        load_members = identity_repo.identities_of_profiles
        interleaved: list[bool] = []

        async def b_commits_in_between(*args: Any) -> Any:
            if not interleaved:  # A's first batch, right after it read who holds what
                interleaved.append(True)
                await drain(b)  # B takes the merge (A holds the other event) and commits
            return await load_members(*args)

        monkeypatch.setattr(identity_repo, "identities_of_profiles", b_commits_in_between)
        await drain(a)
        assert interleaved
        assert await graph(a) == {frozenset({"user_id:u2", "anonymous_id:visitor", "email:v@x.co"})}
        async with a.rt.db.read() as session:
            holders = (await session.execute(select(Identity.profile_id).distinct())).scalars()
            for holder in holders:
                assert await identity.canonical_id(session, holder) == holder, (
                    "a merged-away holder"
                )
    finally:
        await a.close()
        await b.close()


async def test_blocked_values_never_join_people(platform: Platform) -> None:
    web = await source_of(platform)
    junk = ["null", "undefined", "0", "-1", "anonymous", "00000000-0000-0000-0000-000000000000"]
    await send(
        platform,
        web,
        [
            {"type": "identify", "userId": f"u{i}", "anonymousId": value, "traits": {"phone": "0"}}
            for i, value in enumerate(junk)
        ],
    )
    await drain(platform)
    assert await graph(platform) == {frozenset({f"user_id:u{i}"}) for i in range(len(junk))}


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=person_calls(), pick=st.integers(0, 1000))
def test_split_restores_what_any_merge_joined(
    calls: list[list[tuple[str, str]]],
    pick: int,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """Whatever the graph: join a visitor's device to any profile, split, and nothing changed."""

    template = request.getfixturevalue("sqlite_template")

    async def run() -> tuple[Partition, Partition, Partition]:
        url = await asyncio.to_thread(fresh_database, database_url, template, tmp_path)
        platform = Platform(
            Settings(database_url=url, sqlite_synchronous="OFF"), FrozenClock(START)
        )
        try:
            web = await source_of(platform)
            device = {"device": {"id": "visitor-phone"}}
            await send(platform, web, messages_for(calls))
            await send(
                platform,
                web,
                [{"type": "track", "anonymousId": "visitor", "event": "V", "context": device}],
            )
            await drain(platform)
            before = await graph(platform)
            async with platform.rt.db.read() as session:
                visitor = await identity.lookup(session, platform.rules, "anonymous_id", "visitor")
            keys = sorted(k for g in before for k in g if "visitor" not in k)
            type_, value = keys[pick % len(keys)].split(":", 1)
            join: dict[str, object] = {"type": "identify", "context": device}
            if type_ == "user_id":
                join["userId"] = value
            elif type_ == "anonymous_id":
                join["anonymousId"] = value
            else:
                join |= {"anonymousId": "visitor", "traits": {"email": value}}
            await send(platform, web, [join])
            await drain(platform)
            merged = await graph(platform)
            async with platform.rt.db.write() as session:
                assert visitor is not None
                [merge] = [
                    m
                    for m in await identity.merges_of(session, [visitor])
                    if visitor in (m.survivor_id, m.loser_id)
                ]
                await identity.split(platform.rt, session, merge.survivor_id, merge.id)
            return before, merged, await graph(platform)
        finally:
            await platform.close()

    before, merged, after = asyncio.run(run())
    assert len(merged) == len(before) - 1
    assert after == before
