"""Identity use cases: resolve a batch of events to profiles, follow merges, split, erase.

``resolve_batch`` runs inside the caller's transaction. It reads the slice of the graph the batch
touches, resolves in memory (``resolver``), writes the changes back, and bumps the version of every
profile it changed. On PostgreSQL another worker may have changed one of those profiles since the
read: the bump then finds an unexpected version and ``StaleGraph`` tells the caller to retry the
batch. Two new events carrying the same new identifier race on the identities' primary key instead
and the loser retries the same way; either way they end in one profile.

``resolve_known`` is the fast path ingestion takes in its own transaction: an event whose
identifiers the graph already holds, all on one profile, changes nothing in the graph, so it is
stored resolved and never waits for the worker. Everything else is left to ``resolve_batch``.
Erasure and split take a lock that every resolving transaction shares, so no event can be
resolved from the graph as it was before them and stored after them (PostgreSQL; SQLite's single
writer gives the same for free).

Both return, besides their results, the ``Sightings`` of the identifiers they saw: last-seen
times to move forward, which the caller writes with ``record_seen`` as the last statement
before its commit. Ingestion and every worker write those rows for the same customers, and a
row's lock is held until commit; taken last, it is held for the commit alone, and the other
side waits that much less (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.errors import Conflict, InvalidRequest, NotFound
from omnichannel.identity import repository as repo
from omnichannel.identity.cache import OwnerCache
from omnichannel.identity.domain import ProfilesMerged, ProfileSplit
from omnichannel.identity.models import Identity, Merge, Profile
from omnichannel.identity.models import Merge as MergeRow
from omnichannel.identity.repository import Owner, Sighting
from omnichannel.identity.resolver import Graph, Resolver, saw
from omnichannel.identity.rules import Identifier, MergeRules
from omnichannel.kit.ids import new_id
from omnichannel.kit.races import LostRace
from omnichannel.kit.runtime import Runtime

# Named lock: resolving transactions share it, an erasure or a split takes it alone.
RESOLUTION_LOCK = "identity.resolution"


class StaleGraph(LostRace):
    """A profile this batch changed was changed by someone else first; retry the batch."""


@dataclass
class Item:
    """One event as identity resolution sees it."""

    event_id: int
    identifiers: list[Identifier]
    at: datetime
    source_id: str | None = None
    alias_of: list[Identifier] = field(default_factory=list)
    # The event will write to its profile (traits, consents), so the profile is "touched".
    writes_profile: bool = False


@dataclass
class Sightings:
    """When each identifier was seen in this transaction (newest; earliest, with its source),
    and what its row says now (identifiers the graph lacked have none)."""

    seen: dict[str, datetime]
    earliest: dict[str, tuple[datetime, str | None]]
    rows: dict[str, Owner]

    def saw(self, item: Item) -> None:
        """Note the event ``item`` as seen, once it is stored."""
        for i in item.identifiers:
            saw(self.seen, self.earliest, i.key, item.at, item.source_id)


@dataclass
class Resolved:
    profile_id: str  # the profile the event resolved to, kept on the event
    canonical_id: str  # the live profile it belongs to once the whole batch is applied


async def resolve_batch(
    rt: Runtime, session: AsyncSession, rules: MergeRules, items: Sequence[Item]
) -> tuple[dict[int, Resolved | None], Sightings, set[str]]:
    """Resolve each item to a profile (None: its user id, or every identifier it carried, is
    suppressed); also returns the keys of the batch's identifiers that are suppressed (erased),
    left out."""
    await share_resolution(rt, session)
    keys = {i.key for item in items for i in (*item.identifiers, *item.alias_of)}
    blocked = await repo.suppressed(session, list(keys))
    graph, rows, read_versions = await _load(
        session, items, blocked, versions=rt.db.concurrent_writers
    )
    resolver = Resolver(rules, graph, new_id)
    assigned: dict[int, str | None] = {}
    for item in items:
        idents = [i for i in item.identifiers if i.key not in blocked]
        # An alias's previousId is one value read as two types; either suppressed, it is the
        # erased person's, and read as the other it would bring the value back.
        alias_of = [] if any(i.key in blocked for i in item.alias_of) else item.alias_of
        # An erased user id is the erased person's account (no one else holds it): their event
        # is dropped whole, as Segment's suppression drops it, or a new e-mail or device on it
        # would start a profile with their name again.
        account_erased = any(i.key in blocked and i.type == "user_id" for i in item.identifiers)
        if account_erased or (not idents and not alias_of):
            assigned[item.event_id] = None
            continue
        assigned[item.event_id] = resolver.resolve(
            idents, event_id=item.event_id, at=item.at, source_id=item.source_id, alias_of=alias_of
        )
    outcome = resolver.outcome
    results = {
        event_id: Resolved(pid, outcome.canonical(pid)) if pid else None
        for event_id, pid in assigned.items()
    }
    if rt.db.concurrent_writers:
        touched = set(outcome.touched)
        touched.update(
            r.canonical_id
            for item in items
            if item.writes_profile and (r := results[item.event_id])
        )
        # Versions as read with the graph (one statement, one snapshot): a change another worker
        # committed since has moved one on, and the bump misses it. (Read now, they would
        # already include that change, and the stale graph would be written.)
        expected = {p: read_versions[p] for p in sorted(touched.difference(outcome.new_profiles))}
        if not await repo.bump_versions(session, expected):
            raise StaleGraph("a profile changed under this batch")
    await _write(rt, session, resolver, graph)
    return results, Sightings(outcome.seen, outcome.earliest, rows), blocked


async def resolve_known(
    rt: Runtime, session: AsyncSession, items: Sequence[Item], cache: OwnerCache
) -> tuple[dict[int, str], Sightings]:
    """The items whose identifiers all belong to one profile already, each with that profile,
    and the rows of their identifiers, on which the caller notes each item it stores
    (``Sightings.saw``: a retried message, not stored again, moves no last or first seen).

    Such an event changes nothing in the graph but last-seen times, so it needs neither the
    resolver nor the worker. Left out, for ``resolve_batch``: an identifier the graph lacks (it
    may be new, or erased and suppressed), identifiers on several profiles (a merge), an alias,
    and on PostgreSQL an event that writes its profile (it needs the version check). The holders
    come from what this process remembers (``identity.cache``) and the database for the rest.
    """
    await share_resolution(rt, session)
    keys = sorted({i.key for item in items for i in item.identifiers})
    found = await cache.owners(session, keys, rt.clock.now())
    owner = {row.key: row.profile_id for row in found}
    resolved: dict[int, str] = {}
    sightings = Sightings({}, {}, {row.key: row for row in found})
    for item in items:
        if item.alias_of or (item.writes_profile and rt.db.concurrent_writers):
            continue
        owners = {owner.get(i.key) for i in item.identifiers}
        profile_id = owners.pop() if len(owners) == 1 else None
        if profile_id is None:
            continue
        resolved[item.event_id] = profile_id
    return resolved, sightings


async def _load(
    session: AsyncSession, items: Sequence[Item], blocked: set[str], *, versions: bool
) -> tuple[Graph, dict[str, Owner], dict[str, int]]:
    """The slice of the graph the batch needs.

    Every identifier's owner is loaded. A profile's full membership (what the limits are checked
    against) is loaded only if some event could change it: one that brings an identifier the graph
    doesn't have, or spans several profiles. Most events carry only identifiers of one profile
    and need no more (the resolver's fast path). With ``versions``, each holder's version is
    read in the same statement as the holders (see ``resolve_batch``).
    """
    keys = {i.key for item in items for i in (*item.identifiers, *item.alias_of)} - blocked
    found = await repo.identities_by_key(session, sorted(keys), versions=versions)
    owner = {row.key: row.profile_id for row in found}
    at_risk: set[str] = set()
    for item in items:
        event_keys = [i.key for i in (*item.identifiers, *item.alias_of) if i.key not in blocked]
        owners = {owner[k] for k in event_keys if k in owner}
        if len(owners) > 1 or len(owners) < len(event_keys):
            at_risk |= owners
    graph = Graph(owner=owner)
    for row in await repo.identities_of_profiles(session, sorted(at_risk)):
        graph.add(Identifier(row.type, row.value), row.profile_id)
    return graph, {row.key: row for row in found}, {row.profile_id: row.version for row in found}


async def _write(
    rt: Runtime,
    session: AsyncSession,
    resolver: Resolver,
    graph: Graph,
) -> None:
    outcome = resolver.outcome
    now = rt.clock.now()
    await repo.insert_profiles(rt.db, session, outcome.new_profiles, outcome.merged_into, now)
    if outcome.merges:
        merged = ProfilesMerged(tuple((m.survivor, m.loser) for m in outcome.merges))
        await repo.move_all_identities(session, merged.survivors(), now)
        await repo.set_merged_into(session, [(m.loser, m.survivor) for m in outcome.merges])
        await repo.insert_merges(
            session,
            [
                {
                    "id": new_id(),
                    "survivor_id": merge.survivor,
                    "loser_id": merge.loser,
                    "event_id": merge.event_id,
                    "trigger": merge.trigger,
                    "identities": merge.identities,
                    "merged_at": now,
                    "split_at": None,
                }
                for merge in outcome.merges
            ],
        )
        await rt.bus.publish(rt, session, merged)
    new_rows = []
    for key, ident in outcome.new_identities.items():
        first, source_id = outcome.earliest[key]
        new_rows.append(
            {
                "key": key,
                "type": ident.type,
                "value": ident.value,
                "profile_id": graph.owner[key],
                "source_id": source_id,
                "first_seen": first,
                "last_seen": outcome.seen[key],
                "created_at": now,
                "created_by_event": outcome.taken_in_by.get(key),
            }
        )
    await repo.insert_identities(session, new_rows)


async def record_seen(rt: Runtime, session: AsyncSession, sightings: Sightings) -> list[Sighting]:
    """Move identifiers' last_seen to their newest event, and first_seen back to their earliest
    (an event that arrives late, from a phone's offline queue), each where it moves by the
    precision at least; returns what it wrote. Call it last before the commit (see the module's
    docstring). Events come a few seconds out of order all the time (clients' clocks, batches):
    written every time, first_seen cost 20 µs an event on PostgreSQL (bench/README.md)."""
    precision = timedelta(seconds=rt.settings.last_seen_precision_seconds)
    moved = []
    for key, newest in sorted(sightings.seen.items()):
        row = sightings.rows.get(key)
        earliest, source_id = sightings.earliest[key]
        if row is not None and (
            newest - row.last_seen >= precision or row.first_seen - earliest >= precision
        ):
            moved.append(Sighting(key, newest, earliest, source_id))
    await repo.touch_identities(session, moved)
    return moved


async def live_profile(
    session: AsyncSession, profile_id: str, *, stop_at: frozenset[str] = frozenset()
) -> Profile | None:
    """The live profile an id resolves to (itself, or the survivor it was merged into), or
    the first profile of ``stop_at`` on the way there."""
    for _ in range(64):  # merge chains are short; the bound only guards against a cycle
        profile = await repo.get_profile(session, profile_id)
        if profile is None or profile.merged_into is None or profile.id in stop_at:
            return profile
        profile_id = profile.merged_into
    raise RuntimeError(f"merge chain from {profile_id} does not end")


async def canonical_id(session: AsyncSession, profile_id: str) -> str | None:
    profile = await live_profile(session, profile_id)
    return profile.id if profile is not None else None


async def people_of(
    session: AsyncSession, profile_ids: Sequence[str], *, stop_at: frozenset[str] = frozenset()
) -> list[str]:
    """The live profile each id resolves to now (or the first of ``stop_at`` on the way), and
    every profile merged into those, each once (ids of profiles no longer there are left out)."""
    tops: set[str] = set()
    for profile_id in profile_ids:
        if (profile := await live_profile(session, profile_id, stop_at=stop_at)) is not None:
            tops.add(profile.id)
    found: dict[str, None] = {}
    for top in sorted(tops):
        found |= dict.fromkeys(await subtree(session, top))
    return list(found)


async def split_off_since(
    session: AsyncSession, profile_ids: Sequence[str], at: datetime
) -> frozenset[str]:
    """The profiles of these that a split at or after ``at`` took out of a merge (its losers)."""
    merges = await repo.merges_touching(session, profile_ids)
    return frozenset(m.loser_id for m in merges if m.split_at is not None and m.split_at >= at)


async def live_ids(session: AsyncSession, profile_ids: Iterable[str]) -> list[str]:
    """The live profiles these ids resolve to now, each once, sorted (ids of profiles no
    longer there are left out)."""
    roots = {
        live for profile_id in profile_ids if (live := await canonical_id(session, profile_id))
    }
    return sorted(roots)


async def subtree(session: AsyncSession, root: str) -> list[str]:
    """The profile and every profile merged into it, directly or through others."""
    found, frontier = [root], [root]
    while frontier:
        frontier = await repo.children(session, frontier)
        found.extend(frontier)
    return found


async def holder(session: AsyncSession, rules: MergeRules, type_: str, value: str) -> str | None:
    """The profile an identifier is filed under, normalised the way events are. Merges move
    identifiers to the survivor, so this is the live profile; ``lookup`` makes sure of it."""
    normalised = rules.lookup_type(type_)  # spelt as an event may spell it: telegramId
    if normalised is None:
        raise InvalidRequest(
            f"'{type_}' is not an identifier type; use e.g. email, phone or user_id.",
            errors=[{"field": "type", "message": "not an identifier type"}],
        )
    ident = rules.normalise(normalised, value)
    if ident is None:
        return None
    # One key, on a read path: a plain ORM read. (``identities_by_key`` runs on the driver for the
    # ingestion path; on PostgreSQL it measured ~1.5 ms slower here, outside a transaction.)
    found = await repo.get_identity(session, ident.key)
    return found.profile_id if found is not None else None


async def lookup(session: AsyncSession, rules: MergeRules, type_: str, value: str) -> str | None:
    """The live profile holding this identifier."""
    found = await holder(session, rules, type_, value)
    return await canonical_id(session, found) if found is not None else None


async def holders(session: AsyncSession, keys: Sequence[str]) -> dict[str, str]:
    """The profile each identifier key is filed under, for the keys the graph holds."""
    return {owner.key: owner.profile_id for owner in await repo.identities_by_key(session, keys)}


async def taken_in_since(
    session: AsyncSession, keys: Sequence[str], merged_at: datetime, merged_by: int | None
) -> set[str]:
    """Which of these identifiers the graph took in after a merge made at ``merged_at`` (by the
    server's clock) by event ``merged_by``: later, or in its transaction by a later event."""
    return await repo.created_since(session, keys, merged_at, merged_by)


async def hand_over(
    rt: Runtime, session: AsyncSession, keys: Sequence[str], holders: dict[str, str], to: str
) -> None:
    """Move identifiers from their holders (``holders``: key → profile) to profile ``to``."""
    by_holder: dict[str, list[str]] = {}
    for key in keys:
        by_holder.setdefault(holders[key], []).append(key)
    for holder, held in sorted(by_holder.items()):
        await repo.move_identities(session, sorted(held), holder, to, rt.clock.now())


async def identities_of(session: AsyncSession, profile_id: str) -> list[Identity]:
    return await repo.identities_of(session, profile_id)


async def merges_of(session: AsyncSession, profile_ids: Sequence[str]) -> list[Merge]:
    return await repo.merges_touching(session, profile_ids)


async def split(
    rt: Runtime, session: AsyncSession, profile_id: str, merge_id: str | None
) -> MergeRow:
    """Undo a merge: the identifiers it moved go back to the merged-away profile.

    ``profile_id`` is either the merged-away profile (its own merge is undone) or a live profile,
    in which case ``merge_id`` names the merge, or the latest merge into it is undone.
    """
    # An event resolved from the owners as they were, stored after this commits, would stay
    # with the survivor: no event is resolved meanwhile.
    await lock_out_resolution(rt, session)
    profile = await repo.get_profile(session, profile_id)
    if profile is None:
        raise NotFound(f"No profile {profile_id}.")
    merge = await _merge_to_split(session, profile_id, profile.merged_into, merge_id)
    root = await canonical_id(session, merge.survivor_id)
    assert root is not None
    await repo.move_identities(session, merge.identities, root, merge.loser_id, rt.clock.now())
    await repo.set_merged_into(session, [(merge.loser_id, None)])
    await repo.mark_split(session, merge.id, rt.clock.now())
    current = await repo.versions(session, [root, merge.loser_id])
    if not await repo.bump_versions(session, current):
        raise StaleGraph("a profile changed during the split")
    await rt.bus.publish(
        rt, session, ProfileSplit(root, merge.loser_id, merge.event_id, merge.merged_at)
    )
    return merge


async def _merge_to_split(
    session: AsyncSession, profile_id: str, merged_into: str | None, merge_id: str | None
) -> MergeRow:
    if merge_id is not None:
        merge = await repo.get_merge(session, merge_id)
        # Any merge the profile's history lists (GET …/merges): one deeper in a chain too.
        root = await canonical_id(session, profile_id)
        members = set(await subtree(session, root)) if root is not None else set()
        if merge is None or not members & {merge.survivor_id, merge.loser_id}:
            raise NotFound(f"No merge {merge_id} involving profile {profile_id}.")
    elif merged_into is not None:
        merge = await repo.latest_open_merge(session, MergeRow.loser_id, profile_id)
    else:
        merge = await repo.latest_open_merge(session, MergeRow.survivor_id, profile_id)
    if merge is None:
        raise NotFound(f"Profile {profile_id} has no merge to undo.")
    if merge.split_at is not None:
        raise Conflict(f"Merge {merge.id} was already split at {merge.split_at.isoformat()}.")
    return merge


async def share_resolution(rt: Runtime, session: AsyncSession) -> None:
    """Take part in resolution, with the other transactions resolving events or changing a
    profile (a consent): an erasure or a split then waits for this one to end, and this one for
    them. Take it before reading who holds what."""
    await rt.db.lock(session, RESOLUTION_LOCK, shared=True)


async def lock_out_resolution(rt: Runtime, session: AsyncSession) -> None:
    """Wait for transactions resolving events to end and keep new ones out until this one ends:
    no event can then be resolved to a profile this transaction erases, nor from owners it
    changes (a split), and stored after it. Take it first."""
    await rt.db.lock(session, RESOLUTION_LOCK)


async def erase(rt: Runtime, session: AsyncSession, profile_ids: Sequence[str]) -> list[str]:
    """Delete the profiles and their identifiers, suppressed; returns the identifiers' keys."""
    return await repo.erase(rt.db, session, profile_ids, rt.clock.now())


async def claim(session: AsyncSession, profile_id: str) -> None:
    """Claim a live profile for this transaction: its version moves on, so a merge of it that
    read the old one retries, and its row is held to the commit, so another change of it waits
    its turn instead of failing a version check. StaleGraph if it was merged away or erased
    since it was read."""
    if not await repo.bump_live(session, profile_id):
        raise StaleGraph("the profile was merged away or erased under this transaction")
