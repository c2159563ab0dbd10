"""How the event log follows the identity graph: a split gives each side its own events back.

While two profiles were one, every event of either went to the survivor. When the merge is
undone (``ProfileSplit``), an event stored since then that carries only identifiers the split
gave back to the other side is that side's own: it moves there, before traits, consents and
search terms are rebuilt from each side's events (``wiring`` runs this handler first). An event
carrying identifiers of both sides (the one that made the merge) stays with the survivor.
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
    holders = await identity.holders(session, sorted(set().union(*carried.values())))
    other_side = set(await identity.subtree(session, event.loser))
    theirs = [
        event_id
        for event_id, keys in carried.items()
        if (held := {holders[key] for key in keys if key in holders}) and held <= other_side
    ]
    await repo.move_to_profile(session, theirs, event.loser)
