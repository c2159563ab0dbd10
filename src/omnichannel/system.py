"""The operator's endpoints: liveness (``/healthz``), readiness (``/readyz``) and ``/metrics``.

``/healthz`` says only that the process answers, so a restart is never triggered by the database
being away. ``/readyz`` says whether this process can do its job: the database answers and has
every migration, and has not just refused writes (a full disk), so a load balancer sends calls
only where they can be stored. ``/metrics`` is
Prometheus's text format (``kit.metrics``), open like the other two: it holds counts, not
customer data; keep the port off the public internet, as the README says.
"""

from __future__ import annotations

from alembic.script.revision import ResolutionError
from fastapi import APIRouter, Depends
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import DBAPIError
from starlette.responses import Response

from omnichannel.apidocs.problems import problems
from omnichannel.errors import Unavailable
from omnichannel.events import repository as events_repo
from omnichannel.events.metrics import backlog_families
from omnichannel.kit.metrics import CONTENT_TYPE, exposition
from omnichannel.kit.migrate import pending_migrations
from omnichannel.platform import Platform, get_platform

router = APIRouter(tags=["system"])


@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)  # some load balancers' probes send HEAD
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses=problems(503))
@router.head("/readyz", include_in_schema=False)
async def readyz(platform: Platform = Depends(get_platform)) -> dict[str, str]:
    """Readiness: the database answers and its schema is current."""
    db = platform.rt.db
    if not await db.answers():
        raise Unavailable("The database does not answer; calls cannot be stored here now.")
    if (refusal := db.refusing_writes()) is not None:
        raise Unavailable(f"The database refuses writes ({refusal}); calls cannot be stored here.")
    try:  # on the reader: on SQLite, a writer's connection would queue behind a long write
        pending = await pending_migrations(db.reader)
    except ResolutionError as exc:
        raise Unavailable(
            f"The database was migrated by another release ({exc}); run that release."
        ) from exc
    if pending:
        raise Unavailable(f"The database lacks {len(pending)} migration(s): run `omni migrate`.")
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(platform: Platform = Depends(get_platform)) -> Response:
    """Prometheus metrics: this deployment's counters and the event backlog."""
    try:
        async with platform.rt.db.read() as session:
            backlog = await events_repo.backlog(session)
    except (DBAPIError, OSError, TimeoutError):  # the counters still tell what happened
        families: list[Metric] = [database_up(False)]
    else:
        families = [database_up(True), *backlog_families(backlog, platform.rt.clock.now())]
    return Response(exposition(families), media_type=CONTENT_TYPE)


def database_up(up: bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "omni_database_up",
        "Whether the database answered this scrape's backlog query (1) or not (0).",
        int(up),
    )
