"""Profile API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from omnichannel.events.models import SOURCE_KINDS


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IdentityOut(Out):
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime
    source_id: str | None
    # When the graph took it in, and from which event (none for ones taken in before 0.1's
    # migration 0008 recorded it).
    created_at: datetime | None = None
    created_by_event: int | None = None


class ConsentOut(Out):
    channel: str
    purpose: str
    granted: bool
    updated_at: datetime


class Computed(Out):
    first_seen: datetime | None
    last_seen: datetime | None
    last_channel: str | None
    channels: list[str]
    events_total: int
    event_counts: dict[str, int]
    channel_counts: dict[str, int]


class ProfileOut(Out):
    id: str
    created_at: datetime
    merged_ids: list[str] = Field(description="profiles merged into this one")
    identities: list[IdentityOut]
    traits: dict[str, Any]
    consents: list[ConsentOut]
    computed: Computed


class TimelineEntry(Out):
    id: int
    type: str
    event: str | None = Field(description="a track's event")
    name: str | None = Field(description="a page's or screen's name")
    group_id: str | None = Field(None, description="a group call's groupId")
    previous_id: str | None = Field(None, description="an alias's previousId")
    channel: str
    source: str
    source_id: str
    timestamp: datetime
    properties: dict[str, Any]
    traits: dict[str, Any]
    message_id: str
    actor: str | None = Field(None, description="who made a change through the API or console")


class TimelinePage(Out):
    items: list[TimelineEntry]
    next_cursor: str | None


class ConsentIn(BaseModel):
    channel: str = Field(
        description="a channel, or 'all'", json_schema_extra={"enum": [*SOURCE_KINDS, "all"]}
    )
    purpose: str = Field(default="marketing", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    granted: StrictBool  # a record of consent: true or false, never "no" or 1


class ConsentsIn(BaseModel):
    consents: list[ConsentIn] = Field(min_length=1, max_length=200)


class MergeOut(Out):
    id: str
    survivor_id: str
    loser_id: str
    event_id: int | None
    trigger: str
    identities: list[str]
    merged_at: datetime
    split_at: datetime | None


class SplitIn(BaseModel):
    merge_id: str | None = None


class JobOut(Out):
    id: str
    kind: str
    subject: str
    status: str
    result: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None
