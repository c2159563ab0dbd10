"""Tables of the identity graph.

A profile row is a node: identifiers point at live profiles only (a merge moves them), and a
merged profile keeps a ``merged_into`` pointer so its id still resolves to the survivor.
``version`` is bumped by every change to a profile's identity set or traits; a writer that read
an older version retries, which is how two workers on PostgreSQL never break a merge rule.
``identity_owner_changes`` lists the profiles whose identifiers changed hands lately (merge,
split, erasure), for the processes that remember owners (``identity.cache``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.orm import Base, BigId, JSONType, UTCDateTime


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
    # When the graph took it in, by the server's clock (first_seen is the event's, a device's
    # clock): a split tells by it what came while two profiles were one. None: before 0008.
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The event that brought it, which orders what one transaction took in.
    created_by_event: Mapped[int | None] = mapped_column(BigInteger)


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


# How long a row of ``identity_owner_changes`` is kept: a process that has not read them for half
# of it forgets every owner it remembers (``identity.cache``).
OWNER_CHANGES_KEPT = timedelta(hours=1)


class OwnerChange(Base):
    """A profile some of whose identifiers went to another profile, or were erased."""

    __tablename__ = "identity_owner_changes"
    # AUTOINCREMENT: SQLite never hands out a sequence number again once its row is pruned, so
    # a reader's cursor (the last number it read) never skips a new row.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(36))
    # PostgreSQL: the writing transaction's id. Sequence numbers are handed out before commit, so
    # there a reader follows transaction ids instead (``repository.owner_changes``).
    txid: Mapped[int | None] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
