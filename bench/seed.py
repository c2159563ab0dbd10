"""Rows written straight into the tables: seeded profiles, and the baseline's event rows.

Seeding a million profiles through the HTTP API would take most of an hour, so the benchmark
writes them with the raw driver in big transactions, after ``omni migrate`` made the schema:
per profile one ``profiles`` row, its identifiers (user_id, anonymous_id, email) in
``identities``, four ``profile_traits``, and two resolved events (an identify and a track,
``status = 1``) so the profile view's activity figures have something to count. The rows are what
the worker itself would have written for those events.

``event_rows`` turns Segment messages into ``events`` rows exactly as ``Ingestor.accept`` does
(pending, no profile yet): the bulk-insert baseline writes the very rows the timed run sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rawdb import RawDB, Row
from workload import LIBRARY, PLANS, Population, iso, mix64

EVENT_COLUMNS = (
    "source_id",
    "message_id",
    "type",
    "name",
    "channel",
    "user_id",
    "anonymous_id",
    "timestamp",
    "received_at",
    "payload",
    "profile_id",
    "status",
)
PROFILE_COLUMNS = ("id", "created_at", "version", "merged_into")
IDENTITY_COLUMNS = ("key", "type", "value", "profile_id", "source_id", "first_seen", "last_seen")
TRAIT_COLUMNS = ("profile_id", "key", "value", "updated_at", "event_id")
SEED_CHUNK = 50_000


def _parse(moment: Any) -> datetime | None:
    if not isinstance(moment, str):
        return None
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)


def _name(message: dict[str, Any]) -> str | None:
    kind = message["type"]
    if kind == "track":
        return str(message["event"])
    if kind in ("page", "screen"):
        return message.get("name")
    return None


def event_rows(
    db: RawDB, messages: Iterable[dict[str, Any]], source_id: str, channel: str, sent_at: str
) -> list[Row]:
    """``events`` rows for messages of one batch, as the server stores them (status pending)."""
    received = datetime.now(UTC)
    sent = _parse(sent_at)
    rows: list[Row] = []
    for message in messages:
        original = _parse(message.get("originalTimestamp"))
        at = received - (sent - original) if sent and original else received
        rows.append(
            (
                source_id,
                message["messageId"],
                message["type"],
                _name(message),
                channel,
                message.get("userId"),
                message.get("anonymousId"),
                db.ts(at),
                db.ts(received),
                db.json(message),
                None,
                0,
            )
        )
    return rows


def _profile_rows(
    db: RawDB, people: Population, i: int, source_id: str, now: datetime
) -> tuple[Row, list[Row], list[Row], list[Row]]:
    pid = people.profile_id(i)
    first = now - timedelta(minutes=mix64(i) % (365 * 24 * 60))
    last = first + timedelta(hours=1)
    user, anon, email = people.user_id(i), people.anonymous_id(i), people.email(i)
    # No numeric trait: on SQLite the server cannot read one back yet (see the benchmark report).
    traits = {"email": email, "name": people.name(i), "plan": PLANS[i % 3], "city": "Kyiv"}
    identify_id, track_id = 2 * i + 1, 2 * i + 2
    identities = [
        (f"{kind}:{value}", kind, value, pid, source_id, db.ts(first), db.ts(last))
        for kind, value in (("user_id", user), ("anonymous_id", anon), ("email", email))
    ]
    trait_rows = [
        (pid, key, db.json(value), db.ts(first), identify_id) for key, value in traits.items()
    ]
    ids = {"userId": user, "anonymousId": anon}
    identify = {"type": "identify", "messageId": f"seed-{i}-i", **ids, "traits": traits}
    track = {"type": "track", "messageId": f"seed-{i}-t", **ids, "event": "Product Viewed"}
    events = []
    for event_id, message, at, name in (
        (identify_id, identify, first, None),
        (track_id, track, last, "Product Viewed"),
    ):
        message |= {"originalTimestamp": iso(at), "context": {"library": LIBRARY}}
        events.append(
            (
                event_id,
                source_id,
                message["messageId"],
                message["type"],
                name,
                "web",
                user,
                anon,
                db.ts(at),
                db.ts(at),
                db.json(message),
                pid,
                1,
            )
        )
    return (pid, db.ts(first), 1, None), identities, trait_rows, events


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(total, start + size))


async def seed_profiles(
    db: RawDB,
    people: Population,
    source_id: str,
    *,
    advance: Callable[[int], None] = lambda n: None,
) -> None:
    """Write ``people.size`` profiles with identifiers, traits and two events each."""
    now = datetime.now(UTC)
    for chunk in _chunks(people.size, SEED_CHUNK):
        profiles: list[Row] = []
        identities: list[Row] = []
        traits: list[Row] = []
        events: list[Row] = []
        for i in chunk:
            profile, idents, trait_rows, event_list = _profile_rows(db, people, i, source_id, now)
            profiles.append(profile)
            identities += idents
            traits += trait_rows
            events += event_list
        await db.bulk_load("profiles", PROFILE_COLUMNS, profiles)
        await db.bulk_load("identities", IDENTITY_COLUMNS, identities)
        await db.bulk_load("profile_traits", TRAIT_COLUMNS, traits)
        await db.bulk_load("events", ("id", *EVENT_COLUMNS), events)
        advance(len(chunk))
    await db.after_seed()
