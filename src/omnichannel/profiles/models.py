"""Tables the profiles module materialises from the event log: traits and consents.

Both are last-write-wins per key by event time, so events processed out of order (two workers,
late mobile batches) still end in the value of the latest event. Both can be rebuilt from the
log, which is what a split does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.orm import Base, JSONType, UTCDateTime


class Trait(Base):
    __tablename__ = "profile_traits"

    profile_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int | None] = mapped_column(BigInteger)


class Consent(Base):
    __tablename__ = "consents"

    profile_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
