"""Group commit: many concurrent callers' rows written in one transaction, each told after commit.

Every accepted HTTP call must be acknowledged only once its events are committed. Committing each
call on its own pays a transaction (and on SQLite with ``synchronous=FULL`` an fsync) per call.
Here the first caller to arrive starts a flush task: it writes whatever has queued up meanwhile
in one transaction and resolves every waiting caller's future after the commit; callers that
arrive during a flush are taken by the next round. Under no load it behaves like a plain
transaction. The flush runs in its own task, so a caller that is cancelled (a client that went
away) never takes the others' transaction down with it. Nor does a caller whose items the
database refuses: when a shared transaction fails, each caller's items are written again on
their own, so only the caller that brought the bad ones hears of it. A caller's own
transaction that lost a race (a deadlock with another process, ``kit.races``) is run again
before the caller hears anything: no one's fault, and a 503 would send the work back.
The same idea as PostgreSQL's and InnoDB's group commit, one level up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.kit.db import Database
from omnichannel.kit.races import lost_race

# Tries of one caller's transaction that keeps losing races, before its failure is its answer.
RACE_ATTEMPTS = 3

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(
        self,
        db: Database,
        write: Callable[[AsyncSession, list[T]], Awaitable[None]],
        *,
        max_items: int = 10_000,
        linger: float = 0.0,
        on_failure: Callable[[list[T]], None] | None = None,
    ) -> None:
        self.db, self.write, self.max_items, self.linger = db, write, max_items, linger
        # Called with a failed transaction's items, before any other transaction begins.
        self.on_failure = on_failure
        self._queue: list[tuple[list[T], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, items: list[T]) -> None:
        """Return once ``items`` are committed (raise if their transaction failed)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((items, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all(), name="group-commit")
        await asyncio.shield(done)

    async def _flush_all(self) -> None:
        while self._queue:
            if self.linger:
                # A transaction has a fixed cost: wait a moment for callers arriving together.
                await asyncio.sleep(self.linger)
            await self._flush_round()

    async def _flush_round(self) -> None:
        group: list[tuple[list[T], asyncio.Future[None]]] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0][0]) <= self.max_items):
            items, done = self._queue.pop(0)
            group.append((items, done))
            size += len(items)
        if len(group) == 1:
            await self._commit_alone(group[0])
        elif await self._commit(group) is not None:
            for caller in group:
                await self._commit_alone(caller)

    async def _commit_alone(self, caller: tuple[list[T], asyncio.Future[None]]) -> None:
        """One caller's items in a transaction of their own: its failure is its answer, never
        written again after it (the caller would have been told they were not), unless the
        transaction lost a race, which is run again first."""
        for attempt in range(1, RACE_ATTEMPTS + 1):
            failure = await self._commit([caller])
            if failure is None:
                return
            if not lost_race(failure) or attempt == RACE_ATTEMPTS:
                caller[1].set_exception(failure)
                return

    async def _commit(self, group: list[tuple[list[T], asyncio.Future[None]]]) -> Exception | None:
        """Write the group's items in one transaction and answer its callers once it commits;
        returns why it failed (then no caller is answered), or None."""
        items = [item for items, _ in group for item in items]
        try:
            async with self.db.write() as session:
                await self.write(session, items)
        except Exception as exc:  # no caller is acknowledged
            if self.on_failure is not None:
                self.on_failure(items)
            return exc
        for _, done in group:
            done.set_result(None)
        return None
