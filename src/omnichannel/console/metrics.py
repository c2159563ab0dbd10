"""The dashboard's figures: events per channel per day, active customers per channel, new vs
returning customers per day, identifiers first seen per day — over the last ``days`` days.

Read-only aggregates over the event log and the identity graph. They are the console's reporting
view until the analytics module keeps rollups; each is one grouped query over the period, so the
page answers from a cache (``CACHE_SECONDS``) instead of scanning on every load. A profile here
is the one an event was resolved to at the time (a later merge is not re-counted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.events.models import RESOLVED
from omnichannel.events.repository import customers_own, events
from omnichannel.identity.models import Identity

CACHE_SECONDS = 60.0


@dataclass
class Figures:
    days: list[str]
    events: dict[str, list[int]] = field(default_factory=dict)  # channel → count per day
    active: dict[str, int] = field(default_factory=dict)  # channel → distinct profiles
    new: list[int] = field(default_factory=list)
    returning: list[int] = field(default_factory=list)
    identities: list[int] = field(default_factory=list)


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


async def figures(session: AsyncSession, now: datetime, days: int = 30) -> Figures:
    start = (now - timedelta(days=days - 1)).date()
    since = datetime.combine(start, datetime.min.time(), tzinfo=now.tzinfo)
    # Up to the end of today: an event may be dated up to a day ahead (a fast device clock).
    until = since + timedelta(days=days)
    labels = [(start + timedelta(days=n)).isoformat() for n in range(days)]
    index = {label: n for n, label in enumerate(labels)}
    result = Figures(labels, new=[0] * days, returning=[0] * days, identities=[0] * days)
    # The customer's own events: a consent an agent set is not their activity.
    in_period = (
        events.c.status == RESOLVED,
        events.c.timestamp >= since,
        events.c.timestamp < until,
        customers_own,
    )
    day = func.date(events.c.timestamp)

    query = (
        select(day, events.c.channel, func.count())
        .where(*in_period)
        .group_by(day, events.c.channel)
    )
    for at, channel, n in await session.execute(query):
        result.events.setdefault(channel, [0] * days)[index[_day(at)]] += n

    query = select(events.c.channel, func.count(distinct(events.c.profile_id)))
    for channel, n in await session.execute(query.where(*in_period).group_by(events.c.channel)):
        result.active[channel] = n

    active = select(day.label("day"), events.c.profile_id).where(*in_period).distinct().subquery()
    first = (
        select(events.c.profile_id, func.date(func.min(events.c.timestamp)).label("first"))
        .where(
            events.c.status == RESOLVED,
            customers_own,
            events.c.profile_id.in_(select(active.c.profile_id)),
        )
        .group_by(events.c.profile_id)
        .subquery()
    )
    is_new = case((first.c.first == active.c.day, 1), else_=0)
    query = (
        select(active.c.day, func.sum(is_new), func.count())
        .join(first, first.c.profile_id == active.c.profile_id)
        .group_by(active.c.day)
    )
    for at, new, total in await session.execute(query):
        result.new[index[_day(at)]] = int(new)
        result.returning[index[_day(at)]] = int(total) - int(new)

    seen = func.date(Identity.first_seen)
    query = (
        select(seen, func.count())
        .where(Identity.first_seen >= since, Identity.first_seen < until)
        .group_by(seen)
    )
    for at, n in await session.execute(query):
        result.identities[index[_day(at)]] = n
    return result


class FiguresCache:
    """The last figures, reused for ``CACHE_SECONDS``: the dashboard need not be to the second."""

    def __init__(self) -> None:
        self._entry: tuple[float, Figures] | None = None

    def get(self) -> Figures | None:
        if self._entry is None or self._entry[0] < time.monotonic():
            return None
        return self._entry[1]

    def put(self, value: Figures) -> None:
        self._entry = (time.monotonic() + CACHE_SECONDS, value)
