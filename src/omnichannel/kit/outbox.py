"""The outbox: side effects written in the caller's transaction and run by a worker after commit.

``enqueue`` adds a row in the same transaction as the change that wants the effect, so the effect
happens if and only if the change commits. ``OutboxRunner`` claims due rows (see ``kit.due``),
runs the handler registered for the row's topic, and marks it done; a failure is retried with
exponential backoff until ``max_attempts``, then parked as ``dead`` with its last error, and its
topic's ``gave_up`` handler, if it has one, is told in that same transaction (a job a client polls
is then ``failed``, not ``queued`` for ever). A row's optional ``key`` is unique, so enqueuing the
same effect twice is a no-op.

The lease is short (30 s), so the rows of a worker that died come due again soon (a GDPR
erasure used to wait five minutes). While a runner works through what it claimed, it pushes
the lease of the rows it has not finished forward every third of it, so a long effect (an
erasure of a customer with years of events) is not taken for a dead worker's and run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, Text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from omnichannel.kit.due import claim_due
from omnichannel.kit.ids import new_id
from omnichannel.kit.orm import Base, JSONType, UTCDateTime, table_of
from omnichannel.kit.runtime import Runtime

log = logging.getLogger(__name__)

OutboxHandler = Callable[[Runtime, dict[str, Any]], Awaitable[None]]
# Told, in the transaction that parks a row as dead, its payload and last error.
GaveUpHandler = Callable[[Runtime, AsyncSession, dict[str, Any], str], Awaitable[None]]


class OutboxRow(Base):
    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


outbox = table_of(OutboxRow)


async def enqueue(
    rt: Runtime,
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    key: str | None = None,
    due_at: datetime | None = None,
) -> None:
    now = rt.clock.now()
    row = {
        "id": new_id(),
        "topic": topic,
        "key": key,
        "payload": payload,
        "status": "pending",
        "due_at": due_at or now,
        "attempts": 0,
        "created_at": now,
    }
    await session.execute(rt.db.insert(outbox).values(row).on_conflict_do_nothing())


class OutboxRunner:
    def __init__(
        self,
        rt: Runtime,
        handlers: dict[str, OutboxHandler],
        *,
        gave_up: dict[str, GaveUpHandler] | None = None,
        lease: timedelta = timedelta(seconds=30),
        renew_every: float | None = None,
        max_attempts: int = 8,
    ) -> None:
        self.rt, self.handlers, self.lease, self.max_attempts = rt, handlers, lease, max_attempts
        self.gave_up = gave_up or {}
        # Real seconds, unlike the lease (the runtime's clock): a third of it by default.
        self.renew_every = lease.total_seconds() / 3 if renew_every is None else renew_every

    async def run_due(self, limit: int = 50) -> int:
        """Run what is due now; returns how many rows were run."""
        now = self.rt.clock.now()
        async with self.rt.db.write() as session:
            rows = await claim_due(
                session,
                outbox,
                now=now,
                lease=self.lease,
                limit=limit,
                skip_locked=self.rt.db.concurrent_writers,
                where=outbox.c.status == "pending",
            )
        if not rows:
            return 0
        held = {row.id for row in rows}
        # The renewal and a row's last write take turns, so a renewal never lands after the
        # write that finished the row (and moves a retry's due time).
        turn = asyncio.Lock()
        done = asyncio.Event()
        renewal = asyncio.create_task(self._renew(held, turn, done), name="outbox-lease")
        try:
            for row in rows:
                await self._run(row, held, turn)
        finally:
            done.set()
            await renewal
        return len(rows)

    async def _renew(self, held: set[str], turn: asyncio.Lock, done: asyncio.Event) -> None:
        """Push the lease of the claimed rows not yet finished forward until ``done``."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self.renew_every)
            if done.is_set():
                return
            async with turn:
                if not held:
                    continue
                try:
                    async with self.rt.db.write() as session:
                        await session.execute(
                            update(outbox)
                            .where(outbox.c.id.in_(held), outbox.c.status == "pending")
                            .values(due_at=self.rt.clock.now() + self.lease)
                        )
                except Exception as exc:  # the next renewal may pass; the lease covers a miss
                    log.warning("outbox: could not renew the lease of %d rows: %s", len(held), exc)

    async def _run(self, row: Any, held: set[str], turn: asyncio.Lock) -> None:
        handler = self.handlers.get(row.topic)
        values: dict[str, Any]
        try:
            if handler is None:
                raise LookupError(f"no handler for outbox topic {row.topic!r}")
            await handler(self.rt, row.payload)
        except Exception as exc:  # a failing effect must not stop the others
            attempts = row.attempts + 1
            log.warning("outbox %s (%s) failed, attempt %d: %s", row.id, row.topic, attempts, exc)
            values = {"attempts": attempts, "last_error": repr(exc)}
            dead = attempts >= self.max_attempts
            if dead:
                values |= {"status": "dead", "done_at": self.rt.clock.now()}
            else:
                values["due_at"] = self.rt.clock.now() + timedelta(seconds=2**attempts)
        else:
            dead = False
            values = {
                "status": "done",
                "done_at": self.rt.clock.now(),
                "attempts": row.attempts + 1,
            }
        async with turn:
            held.discard(row.id)
            async with self.rt.db.write() as session:
                await session.execute(update(outbox).where(outbox.c.id == row.id).values(**values))
                if dead and (told := self.gave_up.get(row.topic)) is not None:
                    await told(self.rt, session, row.payload, values["last_error"])
