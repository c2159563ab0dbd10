"""How profiles react to domain events: keep traits and consents in step with the event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.events import history
from omnichannel.events.domain import EventsResolved
from omnichannel.identity import service as identity
from omnichannel.identity.domain import ProfilesMerged, ProfileSplit
from omnichannel.kit.runtime import Runtime
from omnichannel.profiles import repository as repo
from omnichannel.profiles.derive import consent_rows, latest_only, trait_rows

TRAIT_KEYS = ("profile_id", "key")
CONSENT_KEYS = ("profile_id", "channel", "purpose")


async def apply(
    session: AsyncSession, traits: list[dict[str, Any]], consents: list[dict[str, Any]]
) -> None:
    await repo.upsert_latest(session, repo.traits, TRAIT_KEYS, latest_only(traits, TRAIT_KEYS))
    await repo.upsert_latest(
        session, repo.consents, CONSENT_KEYS, latest_only(consents, CONSENT_KEYS)
    )


async def on_events_resolved(rt: Runtime, session: AsyncSession, event: EventsResolved) -> None:
    traits: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    for e in event.events:
        if e.type == "identify":
            traits += trait_rows(e.profile_id, e.payload, e.timestamp, e.id)
            consents += consent_rows(e.profile_id, e.payload, e.timestamp, e.id)
    await apply(session, traits, consents)


async def on_merged(rt: Runtime, session: AsyncSession, event: ProfilesMerged) -> None:
    """Each survivor takes its losers' traits and consents where theirs are newer.

    Latest-wins is order-free, so every loser's rows go straight to the profile its chain ends in,
    for all merges of the transaction at once."""
    survivors = event.survivors()
    losers = sorted(survivors)
    for table, keys in ((repo.traits, TRAIT_KEYS), (repo.consents, CONSENT_KEYS)):
        rows = await repo.rows_of(session, table, losers)
        for row in rows:
            row["profile_id"] = survivors[row["profile_id"]]
        await repo.upsert_latest(session, table, keys, latest_only(rows, keys))
        await repo.delete_for(session, table, losers)


async def on_split(rt: Runtime, session: AsyncSession, event: ProfileSplit) -> None:
    """Rebuild both sides from their own events: the log is the truth, these tables a view."""
    for profile_id in (event.survivor, event.loser):
        await rebuild(rt, session, profile_id)


async def rebuild(rt: Runtime, session: AsyncSession, profile_id: str) -> None:
    members = await identity.subtree(session, profile_id)
    await repo.delete_for(session, repo.traits, [profile_id])
    await repo.delete_for(session, repo.consents, [profile_id])
    traits: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    for row in await history.identify_events(session, members):
        traits += trait_rows(profile_id, row.payload, row.timestamp, row.id)
        consents += consent_rows(profile_id, row.payload, row.timestamp, row.id)
    await apply(session, traits, consents)
