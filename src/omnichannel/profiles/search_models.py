"""The customer-search index: normalised name, e-mail and phone terms pointing at profiles.

One row per (term, profile). Prefix search is a range scan of the primary key, so the column is
compared byte by byte: SQLite's default BINARY collation, and ``COLLATE "C"`` on PostgreSQL (a
locale collation would order "ann.b" and "annb" in ways a byte-range prefix cannot follow).
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.orm import Base

TERM_LENGTH = 200
TermText = String(TERM_LENGTH).with_variant(String(TERM_LENGTH, collation="C"), "postgresql")


class SearchTerm(Base):
    __tablename__ = "profile_search"

    term: Mapped[str] = mapped_column(TermText, primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
