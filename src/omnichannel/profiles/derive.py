"""What an event says about its profile: the traits and consents it sets.

Consents come from an identify's ``traits.consents``, shaped
``{"<channel>": {"<purpose>": true|false}}`` (a bare boolean means the ``marketing`` purpose),
or from ``PUT /v1/profiles/{id}/consents``, which records such an identify itself.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from omnichannel.events.models import SOURCE_KINDS

CONSENTS_TRAIT = "consents"
DEFAULT_PURPOSE = "marketing"
PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# A consent is given for a channel (a source kind) or for all of them.
CONSENT_CHANNELS = (*SOURCE_KINDS, "all")


def trait_rows(
    profile_id: str, payload: dict[str, Any], at: datetime, event_id: int
) -> list[dict[str, Any]]:
    traits = payload.get("traits")
    if not isinstance(traits, dict):
        return []
    return [
        {
            "profile_id": profile_id,
            "key": key[:200],
            "value": value,
            "updated_at": at,
            "event_id": event_id,
        }
        for key, value in traits.items()
        if key != CONSENTS_TRAIT
    ]


def consent_rows(
    profile_id: str, payload: dict[str, Any], at: datetime, event_id: int
) -> list[dict[str, Any]]:
    traits = payload.get("traits")
    given = traits.get(CONSENTS_TRAIT) if isinstance(traits, dict) else None
    if not isinstance(given, dict):
        return []
    rows = []
    for channel, purposes in given.items():
        if channel not in CONSENT_CHANNELS:  # as PUT …/consents refuses one
            continue
        if isinstance(purposes, bool):
            purposes = {DEFAULT_PURPOSE: purposes}
        if not isinstance(purposes, dict):
            continue
        for purpose, granted in purposes.items():
            if isinstance(granted, bool) and isinstance(purpose, str) and PURPOSE.match(purpose):
                rows.append(
                    {
                        "profile_id": profile_id,
                        "channel": channel,
                        "purpose": purpose,
                        "granted": granted,
                        "updated_at": at,
                        "event_id": event_id,
                    }
                )
    return rows


def latest_only(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per key, the latest by (time, event): a single upsert must not hit a row twice."""
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[name] for name in keys)
        current = best.get(k)
        if current is None or (row["updated_at"], row["event_id"] or 0) >= (
            current["updated_at"],
            current["event_id"] or 0,
        ):
            best[k] = row
    return list(best.values())
