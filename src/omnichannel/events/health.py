"""Source health: what each source sent lately, and which of its calls were refused and why.

Accepted traffic is read from the event log itself (an index on ``(source_id, received_at)``
makes "last event" and "events today" range scans). Refused calls never reach the log, so
``record_rejection`` keeps them in two small diagnostic tables, bounded so a misbehaving client
cannot grow them: the last ``KEEP`` rejections per source with their field errors, and a count
per source and day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import BigInteger, Date, Index, Integer, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.events.metrics import REFUSED
from omnichannel.events.repository import events
from omnichannel.kit.orm import Base, BigId, JSONType, UTCDateTime, table_of
from omnichannel.kit.runtime import Runtime

log = logging.getLogger(__name__)
KEEP = 100

# Declared here rather than on the Event model: it serves only this read side.
Index("ix_events_source_received", events.c.source_id, events.c.received_at)


class SourceRejection(Base):
    __tablename__ = "source_rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    events: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSONType)


class SourceRejectionDay(Base):
    __tablename__ = "source_rejection_days"

    source_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)


rejections = table_of(SourceRejection)
rejection_days = table_of(SourceRejectionDay)


async def record_rejection(
    rt: Runtime, source_id: str, errors: list[dict[str, str]], *, events: int = 1
) -> None:
    """Remember a refused call (``events`` events refused, for these field errors).

    Best effort, in its own short transaction: a failure here is logged and never changes the
    answer the client gets.
    """
    REFUSED.labels(source_id).inc(events)
    now = rt.clock.now()
    try:
        async with rt.db.write() as session:
            await _record(rt, session, source_id, errors[:20], events, now)
    except Exception:  # diagnostics must never break ingestion
        log.exception("could not record a rejection for source %s", source_id)


async def _record(
    rt: Runtime,
    session: AsyncSession,
    source_id: str,
    errors: list[dict[str, str]],
    events: int,
    now: datetime,
) -> None:
    await session.execute(
        rejections.insert().values(source_id=source_id, at=now, events=events, errors=errors)
    )
    counter = rt.db.insert(rejection_days).values(
        source_id=source_id, day=now.date(), events=events
    )
    await session.execute(
        counter.on_conflict_do_update(
            index_elements=["source_id", "day"],
            set_={"events": rejection_days.c.events + counter.excluded.events},
        )
    )
    oldest_kept = (
        select(rejections.c.id)
        .where(rejections.c.source_id == source_id)
        .order_by(rejections.c.id.desc())
        .offset(KEEP - 1)
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(
        delete(rejections).where(rejections.c.source_id == source_id, rejections.c.id < oldest_kept)
    )


@dataclass
class Health:
    last_event_at: datetime | None
    events_today: int
    rejected_today: int
    recent_rejections: list[Any]


async def health(session: AsyncSession, source_id: str, now: datetime, recent: int = 20) -> Health:
    """The source's traffic today (UTC) and its latest refused calls, newest first."""
    midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
    by_source = events.c.source_id == source_id
    last = await session.execute(select(func.max(events.c.received_at)).where(by_source))
    today = await session.execute(
        select(func.count()).select_from(events).where(by_source, events.c.received_at >= midnight)
    )
    refused = await session.execute(
        select(rejection_days.c.events).where(
            rejection_days.c.source_id == source_id, rejection_days.c.day == now.date()
        )
    )
    latest = await session.execute(
        select(rejections)
        .where(rejections.c.source_id == source_id)
        .order_by(rejections.c.id.desc())
        .limit(recent)
    )
    return Health(
        last_event_at=last.scalar_one(),
        events_today=int(today.scalar_one()),
        rejected_today=int(refused.scalar_one_or_none() or 0),
        recent_rejections=list(latest.all()),
    )
