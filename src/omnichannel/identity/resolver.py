"""Identity resolution over an in-memory slice of the graph: pure logic, no I/O.

The service loads the part of the graph a batch of events touches, runs every event through
``Resolver.resolve`` in order, and writes back what changed. Keeping the rules here, apart from
SQL, is what lets the property tests hammer them with thousands of orderings.

The rule, as in Segment Unify: take the event's identifiers in priority order; the profiles they
match and the new identifiers they bring must fit the per-type limits once combined; if they
don't, drop the lowest-priority identifier and try again. What remains is merged into the
profile of the highest-priority identifier (or a new profile). So two profiles with different
user ids never merge (user_id's limit is 1), and blocked values never get here at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from omnichannel.identity.rules import Identifier, MergeRules


@dataclass
class MergeRecord:
    survivor: str
    loser: str
    trigger: str
    identities: list[str]
    event_id: int | None


@dataclass
class Graph:
    """The loaded slice: which profile each identifier belongs to, and the members of the
    profiles whose identity set may change (the others are never asked for)."""

    owner: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, Identifier]] = field(default_factory=dict)

    def add(self, ident: Identifier, profile: str) -> None:
        self.owner[ident.key] = profile
        self.members.setdefault(profile, {})[ident.key] = ident


@dataclass
class Outcome:
    """What resolving a batch changed, for the service to write back."""

    new_profiles: list[str] = field(default_factory=list)
    new_identities: dict[str, Identifier] = field(default_factory=dict)
    # The event that brought each new identifier: a merge by a later event of the batch came
    # first (a split asks which did, ``events.handlers``).
    taken_in_by: dict[str, int | None] = field(default_factory=dict)
    merges: list[MergeRecord] = field(default_factory=list)
    merged_into: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    seen: dict[str, datetime] = field(default_factory=dict)  # each key's newest event
    # Each key's earliest event, and its source: a new identifier's first_seen, or an older one
    # moved back by a late event.
    earliest: dict[str, tuple[datetime, str | None]] = field(default_factory=dict)

    def canonical(self, profile: str) -> str:
        while profile in self.merged_into:
            profile = self.merged_into[profile]
        return profile


class Resolver:
    def __init__(self, rules: MergeRules, graph: Graph, new_id: Callable[[], str]) -> None:
        self.rules, self.graph, self.new_id = rules, graph, new_id
        self.outcome = Outcome()

    def resolve(
        self,
        identifiers: Iterable[Identifier],
        *,
        event_id: int | None = None,
        at: datetime,
        source_id: str | None = None,
        alias_of: Iterable[Identifier] = (),
    ) -> str:
        """The profile this event belongs to, after applying it to the graph."""
        candidates = {i.key: i for i in identifiers}
        previous = self._alias_target(list(alias_of))
        if previous is not None:
            candidates.setdefault(previous.key, previous)
        owners = {self.graph.owner.get(key) for key in candidates}
        if len(owners) == 1 and None not in owners:
            # Fast path, most events: every identifier is known and they share one profile.
            for key in candidates:
                saw(self.outcome.seen, self.outcome.earliest, key, at, source_id)
            return owners.pop()  # type: ignore[return-value]
        ranked = sorted(candidates.values(), key=self.rules.rank)
        return self._apply(ranked[: self._fitting(ranked)], event_id, at, source_id)

    def _alias_target(self, options: list[Identifier]) -> Identifier | None:
        for ident in options:
            if ident.key in self.graph.owner:
                return ident
        return options[-1] if options else None

    def _profiles_of(self, ranked: list[Identifier]) -> list[str]:
        profiles: dict[str, None] = {}
        for ident in ranked:
            owner = self.graph.owner.get(ident.key)
            if owner is not None:
                profiles.setdefault(owner)
        return list(profiles)

    def _fitting(self, ranked: list[Identifier]) -> int:
        """How many of ``ranked`` to keep: the longest head whose identifiers, with every
        identifier of the profiles they hold, fit the limits, per type and in all (the first
        one at least).

        Dropping the lowest-priority identifier until the rest fit keeps that head: each
        identifier added to a head only adds values (its own, its profile's), so once a type
        is over its limit it stays over. Found in one pass, adding each profile's members once:
        trying again after each drop cost an event with hundreds of identifiers, against a
        profile with thousands, a minute of the server's time."""
        values: dict[str, set[str]] = {}
        counted: set[str] = set()
        keys: set[str] = set()  # and every identifier in all, against ``max_per_profile``
        for n, ident in enumerate(ranked):
            adding = [ident]
            owner = self.graph.owner.get(ident.key)
            if owner is not None and owner not in counted:
                counted.add(owner)
                adding += self.graph.members.get(owner, {}).values()
            for added in adding:
                of_type = values.setdefault(added.type, set())
                of_type.add(added.value)
                keys.add(added.key)
                if len(of_type) > self.rules.limit(added.type) or (
                    len(keys) > self.rules.max_per_profile
                ):
                    return max(n, 1)
        return len(ranked)

    def _apply(
        self, ranked: list[Identifier], event_id: int | None, at: datetime, source_id: str | None
    ) -> str:
        profiles = self._profiles_of(ranked)
        if profiles:
            survivor = profiles[0]
        else:
            survivor = self.new_id()
            self.outcome.new_profiles.append(survivor)
        for loser in profiles[1:]:
            trigger = next(i.key for i in ranked if self.graph.owner.get(i.key) == loser)
            self._merge(survivor, loser, trigger, event_id)
        for ident in ranked:
            if ident.key not in self.graph.owner:
                self.graph.add(ident, survivor)
                self.outcome.new_identities[ident.key] = ident
                self.outcome.taken_in_by[ident.key] = event_id
                self.outcome.touched.add(survivor)
            saw(self.outcome.seen, self.outcome.earliest, ident.key, at, source_id)
        return survivor

    def _merge(self, survivor: str, loser: str, trigger: str, event_id: int | None) -> None:
        moved = self.graph.members.pop(loser, {})
        for ident in moved.values():
            self.graph.add(ident, survivor)
        self.outcome.merges.append(MergeRecord(survivor, loser, trigger, sorted(moved), event_id))
        self.outcome.merged_into[loser] = survivor
        self.outcome.touched.update((survivor, loser))


def saw(
    seen: dict[str, datetime],
    earliest: dict[str, tuple[datetime, str | None]],
    key: str,
    at: datetime,
    source_id: str | None,
) -> None:
    """Note an event of an identifier at ``at``: the newest, and the earliest with its source."""
    if key not in seen or at > seen[key]:
        seen[key] = at
    if key not in earliest or at < earliest[key][0]:
        earliest[key] = (at, source_id)
