"""Tables of the console: its users, and the settings it keeps in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.orm import Base, UTCDateTime

ROLES = ("admin", "marketer", "agent", "store")


class ConsoleUser(Base):
    """A person who signs in to the console; a ``store`` user is bound to a store's POS source."""

    __tablename__ = "console_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    store_source_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Every session cookie carries the generation it was signed in; signing out moves it on, so
    # a copied cookie of that user stops working at once (console.security).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ConsoleSetting(Base):
    """A named value the console generates once and every process shares (the session secret)."""

    __tablename__ = "console_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
