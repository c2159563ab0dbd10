"""Domain events the events module publishes once a batch is resolved to profiles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ResolvedEvent:
    id: int
    profile_id: str  # the live profile (after every merge the batch made)
    type: str
    channel: str
    source_id: str
    timestamp: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventsResolved:
    events: list[ResolvedEvent]
