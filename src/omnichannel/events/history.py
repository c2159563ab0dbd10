"""What other modules may ask of the event log: a profile's timeline, activity, and erasure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.events import repository as repo
from omnichannel.events.models import DISCARDED, message_id_only
from omnichannel.identity.rules import MergeRules, alias_candidates, extract, without
from omnichannel.kit.pagination import decode_cursor, encode_cursor


@dataclass
class Activity:
    """Computed basics of a profile, derived from its events (never stored twice): the
    customer's own, so changes made through the API (a consent set by an agent) are left out."""

    first_seen: datetime | None = None
    last_seen: datetime | None = None
    last_channel: str | None = None
    channels: list[str] = field(default_factory=list)
    events_total: int = 0
    event_counts: dict[str, int] = field(default_factory=dict)
    channel_counts: dict[str, int] = field(default_factory=dict)


async def activity(session: AsyncSession, profile_ids: Sequence[str]) -> Activity:
    result = Activity()
    for row in await repo.stats(session, profile_ids):
        result.events_total += row.n
        result.event_counts[row.type] = result.event_counts.get(row.type, 0) + row.n
        result.channel_counts[row.channel] = result.channel_counts.get(row.channel, 0) + row.n
        if result.first_seen is None or row.first < result.first_seen:
            result.first_seen = row.first
        if result.last_seen is None or row.last > result.last_seen:
            result.last_seen = row.last
    latest = await repo.latest(session, profile_ids)
    result.last_channel = latest.channel if latest else None
    result.channels = sorted(result.channel_counts, key=lambda c: -result.channel_counts[c])
    return result


def entry(row: Any, *, full: bool = False) -> dict[str, Any]:
    payload = row.payload
    item = {
        "id": row.id,
        "type": row.type,
        "event": row.name if row.type == "track" else None,
        "name": row.name if row.type in ("page", "screen") else None,
        # In full, as sent (the row's name keeps at most NAME_LENGTH of them).
        "group_id": _text(payload.get("groupId")) if row.type == "group" else None,
        "previous_id": _text(payload.get("previousId")) if row.type == "alias" else None,
        "channel": row.channel,
        "source": row.source_name,
        "source_id": row.source_id,
        "timestamp": row.timestamp,
        "properties": _object(payload.get("properties")),
        "traits": _object(payload.get("traits")),
        "message_id": row.message_id,
        # Who made a change through the API or the console (``profiles.set_consents``): only the
        # system source's events say so; a write key's may carry any ``context.actor``.
        "actor": _actor(payload) if row.source_is_system else None,
    }
    if full:
        item["payload"] = payload
        item["received_at"] = row.received_at
    return item


def _object(value: Any) -> dict[str, Any]:
    """An object of the payload as the timeline shows it: an older release took events whose
    ``traits`` or ``properties`` were not objects (``"x"``), which ingestion now refuses."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _actor(payload: dict[str, Any]) -> str | None:
    context = payload.get("context")
    actor = context.get("actor") if isinstance(context, dict) else None
    return actor if isinstance(actor, str) else None


async def timeline(
    session: AsyncSession,
    profile_ids: Sequence[str],
    *,
    limit: int,
    cursor: str | None = None,
    channels: Sequence[str] = (),
    types: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    full: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of events newest first, and the cursor of the next page (None at the end)."""
    before = decode_cursor(cursor, _timeline_key) if cursor else None
    rows = await repo.timeline(
        session,
        profile_ids,
        limit=limit + 1,
        before=before,
        channels=channels,
        types=types,
        since=since,
        until=until,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].timestamp.isoformat(), rows[-1].id]) if more else None
    return [entry(row, full=full) for row in rows], next_cursor


def _timeline_key(key: list[Any]) -> tuple[datetime, int]:
    """A timeline cursor's key: the last event's time (with its zone, as written) and id."""
    at, event_id = key
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None or type(event_id) is not int or not 0 < event_id < 2**63:
        raise ValueError("not a timeline position")  # ``type``: JSON's true is no id
    return moment.astimezone(UTC), event_id  # OverflowError for a time UTC cannot hold


async def identify_events(session: AsyncSession, profile_ids: Sequence[str]) -> list[Any]:
    return await repo.identify_events(session, profile_ids)


async def erase(session: AsyncSession, profile_ids: Sequence[str]) -> int:
    return await repo.delete_for_profiles(session, profile_ids)


async def forget_set_aside(session: AsyncSession, keys: set[str], rules: MergeRules) -> None:
    """Take these identifiers out of the set-aside events, which wait for `omni events retry`
    with no profile, so an erasure finds them only by what they carry. As the worker does with
    an event that comes in carrying them: one of the erased person alone (or carrying their
    user id) keeps only its message id and is discarded; one also of someone else, the rest."""
    kept: list[tuple[int, dict[str, Any]]] = []
    discarded: list[tuple[int, str | None, int]] = []
    for row in await repo.set_aside_payloads(session):
        if not isinstance(row.payload, dict):  # a corrupt row, set aside for that: no message
            continue
        carried = [*extract(row.payload, rules), *alias_candidates(row.payload, rules)]
        erased = [i for i in carried if i.key in keys]
        if not erased:
            continue
        if len(erased) == len(carried) or any(i.type == "user_id" for i in erased):
            kept.append((row.id, message_id_only(row.type, row.payload)))
            discarded.append((row.id, None, DISCARDED))
        else:
            kept.append((row.id, without(row.payload, rules, keys)))
    await repo.replace_payloads(session, kept)
    await repo.mark_processed(session, discarded)


async def scrub(
    session: AsyncSession, event_ids: Sequence[int], keys: set[str], rules: MergeRules
) -> set[str]:
    """Take these identifiers out of these events (those still in the log); returns the
    profiles the changed events are on, whose traits and search terms came from them."""
    kept, profiles = [], set()
    for row in await repo.payloads(session, event_ids):
        if (scrubbed := without(row.payload, rules, keys)) != row.payload:
            kept.append((row.id, scrubbed))
            if row.profile_id is not None:
                profiles.add(row.profile_id)
    await repo.replace_payloads(session, kept)
    return profiles
