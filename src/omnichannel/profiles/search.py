"""Customer search: by any identifier (exact) or by the start of a name, e-mail or phone.

Exact identifiers go through the identity graph, normalised as events are (``identity.lookup``):
an e-mail in any case, a phone in any format, a user id, a loyalty card, a Telegram id… A profile
id is found as itself. Everything else is a prefix search over ``profile_search``, an index of
normalised name, e-mail and phone terms that these handlers keep in step with the event log:

* ``EventsResolved``: an identify's traits add terms (old terms stay, so a customer is still
  found by a former name or address — the view shows the current one);
* ``ProfilesMerged``: the loser's terms move to the survivor;
* ``ProfileSplit``: both sides are rebuilt from their own identify events;
* erasure: ``forget`` drops the profiles' terms.

Hits are resolved to live profiles, so a term left on a merged-away id still finds the survivor.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.events import history
from omnichannel.events.domain import EventsResolved
from omnichannel.identity import service as identity
from omnichannel.identity.domain import ProfilesMerged, ProfileSplit
from omnichannel.identity.rules import KNOWN_TYPES, MergeRules
from omnichannel.kit.bulk import BulkInsert
from omnichannel.kit.orm import table_of
from omnichannel.kit.repository import chunked
from omnichannel.kit.runtime import Runtime
from omnichannel.profiles import repository as profiles_repo
from omnichannel.profiles.search_models import TERM_LENGTH, SearchTerm

terms_table = table_of(SearchTerm)
NAME_TRAITS = ("name", "first_name", "firstName", "last_name", "lastName")
FIRST_NAMES, LAST_NAMES = ("first_name", "firstName"), ("last_name", "lastName")
PHONE_LIKE = re.compile(r"^\+?[\d\s().-]{3,}$")
# Greater than every character, so [prefix, prefix + TOP) is exactly the strings with the prefix.
TOP = "\U0010ffff"


@dataclass
class Hit:
    profile_id: str
    name: str | None
    email: str | None
    phone: str | None
    matched: str  # what found it: an identifier type, "profile id", or "name/e-mail/phone"


def _text(value: Any) -> str:
    return " ".join(str(value).split()).lower() if isinstance(value, str | int) else ""


def terms_of(traits: Any, rules: MergeRules) -> set[str]:
    """The search terms an identify's traits give: names, their words, e-mail, phone digits."""
    if not isinstance(traits, dict):
        return set()
    names = [_text(traits.get(key)) for key in NAME_TRAITS]
    first = next((_text(traits[k]) for k in FIRST_NAMES if traits.get(k)), "")
    last = next((_text(traits[k]) for k in LAST_NAMES if traits.get(k)), "")
    names.append(f"{first} {last}".strip())
    found = {n for n in names if n}
    found |= {word for n in names for word in n.split(" ") if word}
    email = rules.normalise("email", traits.get("email"))
    if email is not None:
        found.add(email.value)
    phone = rules.normalise("phone", traits.get("phone") or traits.get("phoneNumber"))
    if phone is not None:
        found.add(phone.value.lstrip("+"))
    return {t[:TERM_LENGTH] for t in found}


def query_terms(text: str, rules: MergeRules) -> list[str]:
    """The prefixes to look for: lower-cased words, or only the digits of something phone-like.
    Phones are kept as E.164 digits; the start of one written as people at home write it
    (``067 814``: the region's trunk prefix, no country code) is looked for that way too."""
    text = " ".join(text.split()).lower()
    if not PHONE_LIKE.match(text):
        return [text]
    digits = re.sub(r"\D", "", text)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(rules.region)
    trunk = metadata.national_prefix if metadata is not None else None
    if text.startswith("+") or not trunk or not digits.startswith(trunk) or digits == trunk:
        return [digits]
    country = phonenumbers.country_code_for_region(rules.region)
    return [digits, f"{country}{digits.removeprefix(trunk)}"]


# --- keeping the index ------------------------------------------------------------------------


_ADD_TERMS = BulkInsert(terms_table, tail="ON CONFLICT DO NOTHING")


async def _add(session: AsyncSession, pairs: Iterable[tuple[str, str]]) -> None:
    rows = [{"term": term, "profile_id": pid} for term, pid in sorted(set(pairs))]
    await _ADD_TERMS.run(session, rows)


def _rules(rt: Runtime) -> MergeRules:
    return MergeRules(rt.settings)


async def on_events_resolved(rt: Runtime, session: AsyncSession, event: EventsResolved) -> None:
    rules = _rules(rt)
    pairs = [
        (term, e.profile_id)
        for e in event.events
        if e.type == "identify"
        for term in terms_of(e.payload.get("traits"), rules)
    ]
    await _add(session, pairs)


async def on_merged(rt: Runtime, session: AsyncSession, event: ProfilesMerged) -> None:
    survivors = event.survivors()
    losers = sorted(survivors)
    moved: list[tuple[str, str]] = []
    for chunk in chunked(losers):
        query = select(terms_table.c.term, terms_table.c.profile_id).where(
            terms_table.c.profile_id.in_(chunk)
        )
        moved += [(term, survivors[loser]) for term, loser in await session.execute(query)]
    await _add(session, moved)
    await forget(session, losers)


async def on_split(rt: Runtime, session: AsyncSession, event: ProfileSplit) -> None:
    for profile_id in (event.survivor, event.loser):
        await rebuild(rt, session, profile_id)


async def rebuild(rt: Runtime, session: AsyncSession, profile_id: str) -> None:
    """A profile's terms made anew from its identify events (a split, or an erasure that took
    identifiers out of them)."""
    rules = _rules(rt)
    await forget(session, [profile_id])
    members = await identity.subtree(session, profile_id)
    identifies = await history.identify_events(session, members)
    pairs = [
        (term, profile_id)
        for row in identifies
        for term in terms_of(row.payload.get("traits"), rules)
    ]
    await _add(session, pairs)


async def held_terms(session: AsyncSession, profile_ids: Sequence[str]) -> list[str]:
    """The terms that find these profiles, sorted: what a GDPR export shows of the index."""
    found: set[str] = set()
    for chunk in chunked(profile_ids):
        query = select(terms_table.c.term).where(terms_table.c.profile_id.in_(chunk))
        found.update((await session.execute(query)).scalars())
    return sorted(found)


async def forget(session: AsyncSession, profile_ids: Sequence[str]) -> None:
    """Drop the terms of these profiles (erasure, or before a rebuild)."""
    for chunk in chunked(profile_ids):
        await session.execute(delete(terms_table).where(terms_table.c.profile_id.in_(chunk)))


# --- searching --------------------------------------------------------------------------------


async def _exact(session: AsyncSession, rules: MergeRules, text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for type_ in KNOWN_TYPES:
        profile_id = await identity.lookup(session, rules, type_, text)
        if profile_id is not None:
            found.append((profile_id, type_))
    try:
        uuid.UUID(text)
    except ValueError:
        return found
    live = await identity.canonical_id(session, text)
    return [(live, "profile id"), *found] if live else found


async def _prefix(session: AsyncSession, term: str, limit: int) -> list[tuple[str, str]]:
    query = (
        select(terms_table.c.profile_id)
        .where(terms_table.c.term >= term, terms_table.c.term < term + TOP)
        .order_by(terms_table.c.term, terms_table.c.profile_id)
        .limit(limit * 4)  # several terms of one profile may share the prefix
    )
    return [(pid, "name/e-mail/phone") for pid in (await session.execute(query)).scalars()]


async def search(
    session: AsyncSession, rules: MergeRules, text: str, *, limit: int = 20
) -> list[Hit]:
    """Live profiles matching ``text``: exact identifier matches first, then prefix matches."""
    text = text.replace("\x00", "").strip()  # no identifier holds a NUL (PostgreSQL takes none)
    if not text:
        return []
    candidates = await _exact(session, rules, text)
    for term in query_terms(text, rules):
        if term:
            candidates += await _prefix(session, term, limit)
    hits: dict[str, Hit] = {}
    for profile_id, matched in candidates:
        live = await identity.canonical_id(session, profile_id)
        if live is None or live in hits:
            continue
        hits[live] = await _hit(session, live, matched)
        if len(hits) == limit:
            break
    return list(hits.values())


async def _hit(session: AsyncSession, profile_id: str, matched: str) -> Hit:
    traits = {t.key: t.value for t in await profiles_repo.traits_of(session, profile_id)}
    first = next((traits[k] for k in FIRST_NAMES if traits.get(k)), "")
    last = next((traits[k] for k in LAST_NAMES if traits.get(k)), "")
    name = traits.get("name") or f"{first} {last}".strip() or None
    return Hit(
        profile_id,
        str(name) if name else None,
        str(traits["email"]) if traits.get("email") else None,
        str(traits["phone"]) if traits.get("phone") else None,
        matched,
    )
