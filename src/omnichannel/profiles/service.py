"""Profile use cases: the unified view, timeline, consents, merges, GDPR export and erasure."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.errors import InvalidRequest, NotFound, field_error, refuse_unknown
from omnichannel.events import history
from omnichannel.events.domain import EventsResolved, ResolvedEvent
from omnichannel.events.models import RESOLVED, SOURCE_KINDS
from omnichannel.events.repository import insert_events
from omnichannel.events.schemas import MESSAGE_TYPES
from omnichannel.events.sources import system_source
from omnichannel.identity import service as identity
from omnichannel.identity.rules import MergeRules
from omnichannel.kit import jobs
from omnichannel.kit.ids import new_id
from omnichannel.kit.outbox import enqueue
from omnichannel.kit.runtime import Runtime
from omnichannel.profiles import handlers, search
from omnichannel.profiles import repository as repo
from omnichannel.profiles.derive import CONSENT_CHANNELS
from omnichannel.profiles.schemas import ConsentIn

ERASE_TOPIC = "profiles.erase"
log = logging.getLogger(__name__)


async def live_id(session: AsyncSession, profile_id: str) -> str:
    found = await identity.canonical_id(session, profile_id)
    if found is None:
        raise NotFound(f"No profile {profile_id}. Find one with /v1/profiles/lookup.")
    return found


async def view(session: AsyncSession, profile_id: str) -> dict[str, Any]:
    """The profile an id resolves to, as the API shows it. Every statement costs a round trip
    through the driver, so the live profile row is read once and reused."""
    profile = await identity.live_profile(session, profile_id)
    if profile is None:
        raise NotFound(f"No profile {profile_id}. Find one with /v1/profiles/lookup.")
    root = profile.id
    members = await identity.subtree(session, root)
    activity = await history.activity(session, members)
    return {
        "id": root,
        "created_at": profile.created_at,
        "merged_ids": members[1:],
        "identities": await identity.identities_of(session, root),
        "traits": {t.key: t.value for t in await repo.traits_of(session, root)},
        "consents": await repo.consents_of(session, root),
        "computed": activity.__dict__,
    }


async def timeline(
    session: AsyncSession,
    profile_id: str,
    *,
    limit: int,
    cursor: str | None,
    channels: list[str],
    types: list[str],
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the person's events, newest first; a filter naming no known channel or event
    type is refused (a typo would otherwise show an empty timeline)."""
    refuse_unknown("channel", channels, SOURCE_KINDS)
    refuse_unknown("type", types, MESSAGE_TYPES)
    root = await live_id(session, profile_id)
    members = await identity.subtree(session, root)
    return await history.timeline(
        session,
        members,
        limit=limit,
        cursor=cursor,
        channels=channels,
        types=types,
        since=since,
        until=until,
    )


async def set_consents(
    rt: Runtime, session: AsyncSession, profile_id: str, consents: list[ConsentIn], actor: str
) -> str:
    """Record consents in the log (the audit trail: an identify of the API's own source for each
    date they need, see below) and apply them at once."""
    for i, consent in enumerate(consents):
        if consent.channel not in CONSENT_CHANNELS:
            raise InvalidRequest(
                f"Unknown channel '{consent.channel}'.",
                errors=[
                    field_error(f"consents[{i}].channel", f"one of {', '.join(CONSENT_CHANNELS)}")
                ],
            )
    # An erasure waits for this change to commit, or this one finds the profile erased (404):
    # otherwise it could land after the erasure, on a profile that no longer exists.
    await identity.share_resolution(rt, session)
    root = await live_id(session, profile_id)
    # Bumping the version makes a concurrent merge of this profile retry after us, and holding
    # its row makes another change of it wait.
    await identity.claim(session, root)
    source = await system_source(rt, session)
    # An agent's change is the last word on each consent it sets, even over an event dated a
    # little ahead (a till's clock, a time zone mixed up: up to a day is taken as sent). So each
    # is dated no earlier than the consent it replaces, a tie its later event wins; those that
    # need no other date are dated now, or one ahead would carry them all with it.
    now = rt.clock.now()
    held = {(c.channel, c.purpose): c.updated_at for c in await repo.consents_of(session, root)}
    by_date: dict[datetime, dict[str, dict[str, bool]]] = {}
    for consent in consents:
        at = max(now, held.get((consent.channel, consent.purpose), now))
        by_date.setdefault(at, {}).setdefault(consent.channel, {})[consent.purpose] = (
            consent.granted
        )
    rows = [_consents_event(source.id, root, profile_id, actor, given, at, now)
            for at, given in sorted(by_date.items())]  # fmt: skip
    inserted = await insert_events(session, rows)
    resolved = [
        # New message ids: always inserted.
        ResolvedEvent(inserted[(source.id, row["message_id"])], root, "identify", "server",
                      source.id, row["timestamp"], row["payload"])
        for row in rows
    ]  # fmt: skip
    await rt.bus.publish(rt, session, EventsResolved(resolved))
    return root


def _consents_event(
    source_id: str,
    root: str,
    named: str,
    actor: str,
    given: dict[str, dict[str, bool]],
    at: datetime,
    received_at: datetime,
) -> dict[str, Any]:
    """The log's row of a consent change: an identify of the API's own source, resolved."""
    message_id = new_id()
    payload = {
        "type": "identify",
        "messageId": message_id,
        "traits": {"consents": given},
        # The profile named, a merged one maybe: a split gives the change back to it.
        "context": {"actor": actor, "profileId": named},
    }
    return {
        "source_id": source_id,
        "message_id": message_id,
        "type": "identify",
        "name": "consents",
        "channel": "server",
        "user_id": None,
        "anonymous_id": None,
        "timestamp": at,
        "received_at": received_at,
        "payload": payload,
        "profile_id": root,
        "status": RESOLVED,
    }


async def merges(session: AsyncSession, profile_id: str) -> list[Any]:
    root = await live_id(session, profile_id)
    return await identity.merges_of(session, await identity.subtree(session, root))


async def request_erasure(rt: Runtime, session: AsyncSession, profile_id: str) -> jobs.Job:
    """Queue the erasure of a profile (and everything merged into it); returns the job. Asked
    again before it ran, the same job; after (a client's retry, or a server that took its turn
    once the job had run), the job that erased it, so that asking twice is never a 404."""
    try:
        root = await live_id(session, profile_id)
    except NotFound:
        if (ran := await jobs.latest_job(session, "erase", profile_id)) is not None:
            return ran
        raise
    # Requests made at once wait in turn here, so the later ones find the first one's job.
    await rt.db.lock(session, f"erase:{root}")
    if (queued := await jobs.queued_job(session, "erase", root)) is not None:
        return queued
    job = await jobs.create_job(session, "erase", root, rt.clock.now())
    members = await identity.subtree(session, root)
    payload = {"job_id": job.id, "profile_id": root, "members": members}
    await enqueue(rt, session, ERASE_TOPIC, payload, key=f"erase:{job.id}")
    return job


async def erase(rt: Runtime, payload: dict[str, Any]) -> None:
    """Outbox handler: delete the profile's events, traits, consents and identifiers, suppressed.

    What is erased is the person the request named, as the graph holds them when the job runs:
    each profile that made it up then, followed to the profile it lives in now, with everything
    merged into that. A merge between the request and the job (the erased email arriving on
    another customer's identify) would otherwise have carried their data out of reach. A part
    split off since the request is erased, but not followed (``split_off_since``)."""
    async with rt.db.write() as session:
        await identity.lock_out_resolution(rt, session)
        job = await jobs.get_job(session, payload["job_id"])
        if job is None or job.status == "done":
            # Run already: a worker killed after its commit, before the outbox heard of it.
            # Run again, it would overwrite what was erased with zeros.
            return
        named = [payload["profile_id"], *payload.get("members", [])]
        # A split since the request said a part was someone else's. It is erased still, as
        # which of them asked is not known, but not followed into a profile it joined since:
        # that is the other person's now (a shared tablet split off, then signed in to).
        split_off = await identity.split_off_since(session, named, job.created_at)
        members = await identity.people_of(session, named, stop_at=split_off)
        # The events that linked them to someone else (a merge, split since) may be that one's:
        # they stay, without the erased identifiers.
        links = [m.event_id for m in await identity.merges_of(session, members) if m.event_id]
        events = await history.erase(session, members)
        await repo.delete_for(session, repo.traits, members)
        await repo.delete_for(session, repo.consents, members)
        await search.forget(session, members)
        erased = await identity.erase(rt, session, members)
        rules = MergeRules(rt.settings)
        scrubbed = await history.scrub(session, links, set(erased), rules)
        await history.forget_set_aside(session, set(erased), rules)
        # Those events' traits and terms are on someone else's profile (the erased phone that
        # the link's identify carried): made anew from the events as they are now.
        for other in await identity.live_ids(session, scrubbed):
            await handlers.rebuild(rt, session, other)
            await search.rebuild(rt, session, other)
        await jobs.finish_job(
            session,
            payload["job_id"],
            "done",
            {"profiles": len(members), "events": events, "identifiers_suppressed": len(erased)},
            rt.clock.now(),
        )
    if not await rt.db.empty_wal():
        log.warning(
            "erasure %s: a long read kept SQLite's WAL, where the erased rows stay "
            "until later writes overwrite them",
            payload["job_id"],
        )


async def erasure_gave_up(
    rt: Runtime, session: AsyncSession, payload: dict[str, Any], error: str
) -> None:
    """The erasure failed every attempt: its job says so, and asking again queues a new one."""
    await jobs.finish_job(
        session,
        payload["job_id"],
        "failed",
        {"error": f"{error}; nothing was erased: ask for it again (DELETE) once that is fixed"},
        rt.clock.now(),
    )
