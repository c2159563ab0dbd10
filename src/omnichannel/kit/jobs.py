"""Jobs: long work a client started and can poll (``GET /v1/jobs/{id}``), e.g. a GDPR erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.ids import new_id
from omnichannel.kit.orm import Base, JSONType, UTCDateTime


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))  # queued | running | done | failed
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


async def create_job(session: AsyncSession, kind: str, subject: str, now: datetime) -> Job:
    job = Job(id=new_id(), kind=kind, subject=subject, status="queued", created_at=now)
    session.add(job)
    await session.flush()
    return job


async def queued_job(session: AsyncSession, kind: str, subject: str) -> Job | None:
    """A job of this kind on this subject that has not run yet."""
    query = select(Job).where(Job.kind == kind, Job.subject == subject, Job.status == "queued")
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def latest_job(session: AsyncSession, kind: str, subject: str) -> Job | None:
    """The latest job of this kind on this subject, whatever its status."""
    query = select(Job).where(Job.kind == kind, Job.subject == subject)
    query = query.order_by(Job.created_at.desc(), Job.id.desc())
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def finish_job(
    session: AsyncSession, job_id: str, status: str, result: dict[str, Any], now: datetime
) -> None:
    await session.execute(
        update(Job).where(Job.id == job_id).values(status=status, result=result, finished_at=now)
    )


async def get_job(session: AsyncSession, job_id: str) -> Job | None:
    return (await session.execute(select(Job).where(Job.id == job_id))).scalar_one_or_none()
