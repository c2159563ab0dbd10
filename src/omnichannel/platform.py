"""The platform object: the runtime plus the long-lived services built from it at startup.

One instance per process, on ``app.state.platform`` for the HTTP routes and held by the worker.

Building it also sets the process's garbage-collector threshold if ``OMNI_GC_THRESHOLD`` asks.
Ingestion allocates and drops many small dicts and lists per event, and CPython's default
collects the young generation every 700 net allocations: ``bench/pipeline_profile.py`` spent
~13 % of its time there, and 50,000 lifted batch ingestion with a separate worker by ~15 %. But
each collection then walks up to that many objects at once, which showed in read latency's tail
(lookup p99 13 → 16-22 ms), so it is off by default and meant for ``omni worker`` processes.
"""

from __future__ import annotations

import asyncio
import gc
from typing import TYPE_CHECKING

from fastapi import Request

from omnichannel.config import Settings
from omnichannel.events.service import Ingestor
from omnichannel.events.sources import SourceCache
from omnichannel.identity.rules import MergeRules
from omnichannel.kit.clock import Clock, SystemClock
from omnichannel.kit.db import Database
from omnichannel.kit.runtime import Runtime
from omnichannel.kit.ttl_cache import TTLCache
from omnichannel.wiring import build_bus

if TYPE_CHECKING:
    from omnichannel.auth.service import Principal


class Platform:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        if settings.gc_threshold:
            gc.set_threshold(settings.gc_threshold, *gc.get_threshold()[1:])
        self.rt = Runtime(settings, Database(settings), clock or SystemClock(), build_bus())
        self.rules = MergeRules(settings)
        self.sources = SourceCache(self.rt)
        # API token hash → who holds it (None: unknown or revoked); see auth.service.require.
        self.principals: TTLCache[str, Principal | None] = TTLCache(settings.token_cache_seconds)
        self.ingestor = Ingestor(self.rt, self.rules)
        # Set when events are accepted, so an embedded worker wakes at once instead of polling.
        self.work_waiting = asyncio.Event()

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    async def close(self) -> None:
        await self.rt.db.dispose()


async def get_platform(request: Request) -> Platform:
    # async on purpose: FastAPI runs a plain ``def`` dependency on its thread pool, which cost
    # every request a hop to a thread and back (and GIL hand-offs) for one attribute read.
    platform: Platform = request.app.state.platform
    return platform
