"""How the event log follows the identity graph: a split gives each side its own events back.

While two profiles were one, every event of either went to the survivor. When the merge is
undone (``ProfileSplit``), an event stored since then that carries only identifiers of the
other side is that side's own: it moves there, before traits, consents and search terms are
rebuilt from each side's events (``wiring`` runs this handler first). An event carrying
identifiers of both sides (the one that made the merge) stays with the survivor.

An identifier the graph took in while the two were one (by the server's clock: the other
person's new e-mail, given on their own device) was filed under the survivor; it is the other
side's if every event carrying it is: it goes there with them. A change made through the API
(a consent an agent set) carries no identifier: it goes with the profile it named, if that was
the other side.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.events import repository as repo
from omnichannel.identity import service as identity
from omnichannel.identity.domain import ProfileSplit
from omnichannel.identity.rules import MergeRules, alias_candidates, extract
from omnichannel.kit.runtime import Runtime


async def on_split(rt: Runtime, session: AsyncSession, event: ProfileSplit) -> None:
    rules = MergeRules(rt.settings)
    survivor_side = await identity.subtree(session, event.survivor)
    rows = await repo.resolved_since(session, survivor_side, event.merged_by_event)
    carried = {
        row.id: {
            i.key for i in (*extract(row.payload, rules), *alias_candidates(row.payload, rules))
        }
        for row in rows
    }
    # The profile a change made through the API named; any other event's context is the client's.
    named = {row.id: (row.payload.get("context") or {}).get("profileId") if row.from_api else None
             for row in rows}  # fmt: skip
    holders = await identity.holders(session, sorted(set().union(*carried.values())))
    other_side = set(await identity.subtree(session, event.loser))
    # By the server's clock: an event's own time may be a device's, hours off, or days old.
    taken_in = (
        await identity.taken_in_since(
            session, sorted(holders), event.merged_at, event.merged_by_event
        )
        if event.merged_at is not None
        else set()
    )
    newcomers = {key for key in taken_in if holders[key] not in other_side}

    def theirs(event_id: int) -> bool:
        keys = carried[event_id]
        if not keys:
            return named[event_id] in other_side
        held = {holders[key] for key in keys if key in holders and key not in newcomers}
        return bool(held) and held <= other_side

    # A newcomer that came with any event staying is the survivor's after all, and the events
    # carrying it stay too: repeated until nothing changes (each round only shrinks the set).
    while (
        staying := {
            key for event_id, keys in carried.items() if not theirs(event_id) for key in keys
        }
        & newcomers
    ):
        newcomers -= staying
    await identity.hand_over(rt, session, sorted(newcomers), holders, event.loser)
    await repo.move_to_profile(session, [e for e in carried if theirs(e)], event.loser)
