"""Tables of the events module: sources (touchpoint systems) and the append-only event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.orm import Base, BigId, JSONType, UTCDateTime

# Every touchpoint system is a source of one of these kinds; the kind is the channel of its events.
SOURCE_KINDS = (
    "web",
    "app",
    "pos",
    "call_centre",
    "email",
    "telegram",
    "whatsapp",
    "instagram",
    "messenger",
    "viber",
    "sms",
    "push",
    "marketplace",
    "server",
)

# The name of the source of changes made through the API itself (consents set by an agent, …).
# Shown, never looked up: the source is the one row marked ``is_system``.
SYSTEM_SOURCE = "Omnichannel API"

NAME_LENGTH = 200
# Where each type of message keeps the label the row's ``name`` holds.
NAME_FIELDS = {
    "track": "event",
    "page": "name",
    "screen": "name",
    "group": "groupId",
    "alias": "previousId",
}


def name_of(message: dict[str, Any]) -> str | None:
    """The row's ``name`` of a message: a track's event, a page's or screen's name, a group's id
    or an alias's previous id (a number sent as one, as text), at most NAME_LENGTH of it (the
    payload keeps it whole)."""
    field = NAME_FIELDS.get(message.get("type"))  # type: ignore[arg-type]
    value = message.get(field) if field else None
    return None if value is None or value == "" else str(value)[:NAME_LENGTH]


def message_id_only(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What is kept of an event of an erased person alone: its message id (a retry stays a
    duplicate) and its type."""
    return {"type": type_, "messageId": payload.get("messageId")}


# Event processing states: accepted and durable, resolved to a profile, dropped because every
# identifier it carried was erased (GDPR) and suppressed (only its message id is kept then), or
# set aside because processing it failed on its own (kept whole; `omni events retry`).
PENDING, RESOLVED, DISCARDED, FAILED = 0, 1, 2, 3


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (
        # One system source at most, even when two first consent updates race to make it.
        Index(
            "ux_sources_system",
            "is_system",
            unique=True,
            sqlite_where=text("is_system"),
            postgresql_where=text("is_system"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    # Only a hash is kept: the key is shown once, when the source is created.
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    write_key_hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The source of the API's own changes (``events.sources.system_source``), not a touchpoint.
    is_system: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source_id", "message_id"),
        Index("ix_events_profile_time", "profile_id", "timestamp", "id"),
        # The worker's backlog: only pending rows are in this index, so it stays tiny.
        Index(
            "ix_events_pending",
            "id",
            sqlite_where=text("status = 0"),
            postgresql_where=text("status = 0"),
        ),
        # Set-aside events, normally none: counted for /metrics, put back by `omni events retry`.
        Index(
            "ix_events_set_aside",
            "id",
            sqlite_where=text("status = 3"),
            postgresql_where=text("status = 3"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))
    # The event's label (a track's event, a page's name, a group's id, …), at most NAME_LENGTH.
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    channel: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str | None] = mapped_column(String(255))
    anonymous_id: Mapped[str | None] = mapped_column(String(255))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The message as the client sent it (properties, traits, context, sentAt, …).
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    profile_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[int] = mapped_column(SmallInteger, default=PENDING)
