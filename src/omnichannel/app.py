"""The HTTP application: FastAPI wiring, lifespan, and the embedded worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from omnichannel import __version__
from omnichannel.apidocs import install as install_docs
from omnichannel.body_limit import BodyLimit
from omnichannel.config import Settings
from omnichannel.console.router import install as install_console
from omnichannel.errors import install_handlers
from omnichannel.events.api import IngestionEdge, rudderstack_router
from omnichannel.events.api import router as ingestion_router
from omnichannel.events.openapi import SCHEMAS as INGESTION_SCHEMAS
from omnichannel.kit.clock import Clock
from omnichannel.kit.orphans import end_with_parent
from omnichannel.platform import Platform
from omnichannel.profiles.api import router as profiles_router
from omnichannel.system import router as system_router
from omnichannel.worker import Worker


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        end_with_parent()  # one of ``omni serve --workers N``'s processes
        platform = Platform(settings, clock)
        app.state.platform = platform
        stop = asyncio.Event()
        task = None
        if settings.embedded_worker:
            task = asyncio.create_task(Worker(platform).run(stop), name="embedded-worker")
        try:
            yield
        finally:
            stop.set()
            platform.work_waiting.set()
            if task is not None:
                await task
            await platform.close()

    app = FastAPI(
        title="Omnichannel",
        version=__version__,
        summary="One customer, every channel: Segment-compatible ingestion and unified profiles.",
        lifespan=lifespan,
        # Served by omnichannel.apidocs from the package's own copies of Swagger UI and Redoc.
        docs_url=None,
        redoc_url=None,
    )
    install_handlers(app)
    # Added first, so inside the ingestion edge: ingestion reads its bodies to its own limits.
    app.add_middleware(BodyLimit)
    app.add_middleware(IngestionEdge, origins=settings.ingestion_cors_origins)
    app.include_router(ingestion_router)
    app.include_router(rudderstack_router)
    app.include_router(profiles_router)
    app.include_router(system_router)
    install_console(app)
    install_docs(app, schemas=INGESTION_SCHEMAS)
    return app
