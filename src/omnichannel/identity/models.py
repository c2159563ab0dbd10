"""Tables of the identity graph.

A profile row is a node: identifiers point at live profiles only (a merge moves them), and a
merged profile keeps a ``merged_into`` pointer so its id still resolves to the survivor.
``version`` is bumped by every change to a profile's identity set or traits; a writer that read
an older version retries, which is how two workers on PostgreSQL never break a merge rule.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.orm import Base, JSONType, UTCDateTime


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = (
        # Only merged-away profiles are in it: small, and the planner can't mistake the mostly
        # NULL column for one value and scan a million profiles to find a profile's merges.
        Index(
            "ix_profiles_merged_into",
            "merged_into",
            sqlite_where=text("merged_into IS NOT NULL"),
            postgresql_where=text("merged_into IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    merged_into: Mapped[str | None] = mapped_column(String(36))


class Identity(Base):
    __tablename__ = "identities"

    # "type:value": one column to look up, unique across the graph.
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(255))
    profile_id: Mapped[str] = mapped_column(String(36), index=True)
    source_id: Mapped[str | None] = mapped_column(String(36))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class Merge(Base):
    """The audit trail: one row per merge, kept after a split (``split_at`` set)."""

    __tablename__ = "merges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survivor_id: Mapped[str] = mapped_column(String(36), index=True)
    loser_id: Mapped[str] = mapped_column(String(36), index=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String(300))
    identities: Mapped[list[str]] = mapped_column(JSONType)
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    split_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Suppression(Base):
    """An erased identifier, kept only as a hash so it is never stored again."""

    __tablename__ = "suppressions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
