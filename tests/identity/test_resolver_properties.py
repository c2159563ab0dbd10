"""Property tests of the merge rules on the pure resolver (thousands of orderings per run)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from omnichannel.config import Settings
from omnichannel.identity.resolver import Graph, Resolver
from omnichannel.identity.rules import Identifier, MergeRules

RULES = MergeRules(Settings())
AT = datetime(2026, 1, 1, tzinfo=UTC)
Call = list[Identifier]


def run(calls: list[Call]) -> tuple[Resolver, list[str]]:
    counter = itertools.count()
    resolver = Resolver(RULES, Graph(), lambda: f"p{next(counter)}")
    return resolver, [resolver.resolve(call, at=AT) for call in calls]


def partition(resolver: Resolver) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(m) for m in resolver.graph.members.values() if m)


def components(calls: list[Call]) -> frozenset[frozenset[str]]:
    """Connected components of "appeared in the same call": what merging must produce."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for call in calls:
        keys = [i.key for i in call]
        for key in keys:
            find(key)
        for a, b in itertools.pairwise(keys):
            parent[find(a)] = find(b)
    groups: dict[str, set[str]] = {}
    for key in parent:
        groups.setdefault(find(key), set()).add(key)
    return frozenset(frozenset(g) for g in groups.values())


@st.composite
def one_person_calls(draw: st.DrawFn) -> list[Call]:
    """Calls where every call names identifiers of a single person (so no limit is ever hit)."""
    people = draw(st.integers(1, 4))
    calls: list[Call] = []
    for p in range(people):
        ids = [Identifier("user_id", f"u{p}")]
        ids += [Identifier("anonymous_id", f"a{p}-{i}") for i in range(draw(st.integers(1, 5)))]
        ids += [Identifier("email", f"e{p}-{i}@x.co") for i in range(draw(st.integers(0, 3)))]
        for _ in range(draw(st.integers(1, 6))):
            calls.append(draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True)))
    return calls


@settings(max_examples=300)
@given(one_person_calls(), st.randoms(use_true_random=False))
def test_any_order_ends_in_the_same_profiles(calls: list[Call], rnd: object) -> None:
    shuffled = list(calls)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first, _ = run(calls)
    second, _ = run(shuffled)
    assert partition(first) == partition(second) == components(calls)


IDS = st.one_of(
    st.builds(Identifier, st.just("user_id"), st.sampled_from(["u1", "u2", "u3"])),
    st.builds(Identifier, st.just("anonymous_id"), st.sampled_from([f"a{i}" for i in range(8)])),
    st.builds(Identifier, st.just("email"), st.sampled_from([f"e{i}@x.co" for i in range(8)])),
)
ANY_CALLS = st.lists(st.lists(IDS, min_size=1, max_size=4, unique=True), max_size=40)


@settings(max_examples=500)
@given(ANY_CALLS)
def test_limits_hold_whatever_arrives(calls: list[Call]) -> None:
    resolver, assigned = run(calls)
    for members in resolver.graph.members.values():
        by_type: dict[str, int] = {}
        for ident in members.values():
            by_type[ident.type] = by_type.get(ident.type, 0) + 1
        assert by_type.get("user_id", 0) <= 1, "two user ids in one profile"
        assert all(n <= 5 for n in by_type.values())
    # The highest-priority identifier always stays with the event's profile.
    for call, profile in zip(calls, assigned, strict=True):
        top = min(call, key=RULES.rank)
        assert top.key in resolver.graph.members[resolver.outcome.canonical(profile)]


@settings(max_examples=300)
@given(ANY_CALLS)
def test_every_merge_is_recorded_and_resolves_to_a_live_profile(calls: list[Call]) -> None:
    resolver, assigned = run(calls)
    outcome = resolver.outcome
    assert len(outcome.merges) == len(outcome.merged_into)
    live = {p for p, m in resolver.graph.members.items() if m}
    for profile in assigned:
        assert outcome.canonical(profile) in live
    for merge in outcome.merges:
        assert merge.trigger in merge.identities  # the loser's identifier that joined them


def test_two_user_ids_never_merge_through_a_shared_device() -> None:
    u1, u2, a = (
        Identifier("user_id", "u1"),
        Identifier("user_id", "u2"),
        Identifier("anonymous_id", "a"),
    )
    resolver, assigned = run([[u1, a], [u2, a]])
    assert assigned[0] != assigned[1]
    assert resolver.outcome.merges == []
    assert set(resolver.graph.members[assigned[1]]) == {"user_id:u2"}


def test_sixth_email_is_not_attached() -> None:
    u = Identifier("user_id", "u")
    calls = [[u, Identifier("email", f"e{i}@x.co")] for i in range(6)]
    resolver, assigned = run(calls)
    assert len(set(assigned)) == 1
    emails = [i for i in resolver.graph.members[assigned[0]].values() if i.type == "email"]
    assert len(emails) == 5


def test_a_profile_holds_at_most_max_per_profile_identifiers() -> None:
    """Each custom type has a limit of its own: without one in all, a write key grew a profile
    to 40,000 identifiers, and each later event new to it held the event loop ~45 ms."""
    rules = MergeRules(Settings(identity_max_per_profile=20))
    resolver = Resolver(rules, Graph(), lambda: "p")
    for n in range(10):  # 5 new custom types an event, on one device
        call = [Identifier("anonymous_id", "tablet")]
        call += [Identifier(f"system{n}_{i}", "x") for i in range(5)]
        assert resolver.resolve(call, at=AT) == "p"
    assert len(resolver.graph.members["p"]) == 20
    # Its own identifiers still resolve to it; the ones it had no room for were left out.
    assert resolver.graph.owner["system0_0:x"] == "p"
    assert "system9_0:x" not in resolver.graph.owner
