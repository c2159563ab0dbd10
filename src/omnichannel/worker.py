"""The background loop: drain pending events, run due outbox rows, wait for more.

The same loop runs inside ``omni serve`` (embedded default, woken at once by ingestion) and as
``omni worker`` processes (polling), any number of them on one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from omnichannel.events.tasks import process_pending
from omnichannel.kit.outbox import OutboxRunner
from omnichannel.platform import Platform
from omnichannel.wiring import OUTBOX_GAVE_UP, OUTBOX_HANDLERS

log = logging.getLogger("omnichannel.worker")
MAX_BACK_OFF_SECONDS = 30.0


class Worker:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.outbox = OutboxRunner(platform.rt, OUTBOX_HANDLERS, gave_up=OUTBOX_GAVE_UP)
        self.processed = 0

    async def run_once(self) -> int:
        """One round: a batch of events and the due outbox rows; returns how much was done."""
        return await self._events() + await self.outbox.run_due()

    async def _events(self) -> int:
        events = await process_pending(self.platform.rt, self.platform.rules)
        if events:
            self.processed += events
            log.info("processed %d events (total %d)", events, self.processed)
        return events

    async def drain(self) -> None:
        """Work until nothing is waiting (used by tests, the demo loader and benchmarks)."""
        while await self.run_once():
            pass

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.platform.settings
        waiting = self.platform.work_waiting
        failures = 0
        while not stop.is_set():
            try:
                events = await self._events()
                jobs = await self.outbox.run_due()
            except Exception as exc:  # keep the loop alive; the batch stays pending and is retried
                failures += 1
                await self._back_off(exc, failures, stop)
                continue
            if failures:
                log.warning("worker rounds work again, after %d failed", failures)
                failures = 0
            if not events and not jobs:
                waiting.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiting.wait(), settings.worker_poll_seconds)
            elif events < settings.worker_batch_size:
                await asyncio.sleep(settings.worker_linger_seconds)

    async def _back_off(self, exc: Exception, failures: int, stop: asyncio.Event) -> None:
        """After a failed round (the database down, say), wait longer each time, up to
        ``MAX_BACK_OFF_SECONDS``: the traceback once, then a line per retry."""
        delay = min(self.platform.settings.worker_poll_seconds * 2**failures, MAX_BACK_OFF_SECONDS)
        if failures == 1:
            log.exception("worker round failed; retrying in %.1f s", delay)
        else:
            log.warning(
                "worker round failed again (%s: %s); retrying in %.1f s",
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
                delay,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
