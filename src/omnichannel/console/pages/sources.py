"""Sources: the list with each one's health, creating one (its write key shown once), details.

Admins create sources; marketers may look. Agents and store users have no business here.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from omnichannel.console.security import Viewer, csrf, role
from omnichannel.console.templating import render
from omnichannel.errors import NotFound
from omnichannel.events.health import health
from omnichannel.events.models import SOURCE_KINDS
from omnichannel.events.sources import create_source, list_sources
from omnichannel.platform import Platform, get_platform

router = APIRouter()


@router.get("/sources")
async def sources(
    request: Request, who: Viewer = role("marketer"), platform: Platform = Depends(get_platform)
) -> Response:
    now = platform.rt.clock.now()
    async with platform.rt.db.read() as session:
        rows = [
            (s, await health(session, s.id, now, recent=0)) for s in await list_sources(session)
        ]
    context = {"viewer": who, "rows": rows, "kinds": SOURCE_KINDS}
    return render(request, "sources/list.html", context)


@router.post("/sources", dependencies=[Depends(csrf)])
async def create(
    request: Request,
    kind: str = Form(max_length=20),
    name: str = Form(max_length=200),
    who: Viewer = role(),
    platform: Platform = Depends(get_platform),
) -> Response:
    async with platform.rt.db.write() as session:
        source, key = await create_source(platform.rt, session, kind, name)
    base = str(request.base_url).rstrip("/")
    context = {"viewer": who, "source": source, "write_key": key, "base": base}
    return render(request, "sources/created.html", context, status=201)


@router.get("/sources/{source_id}")
async def detail(
    request: Request,
    source_id: str,
    who: Viewer = role("marketer"),
    platform: Platform = Depends(get_platform),
) -> Response:
    async with platform.rt.db.read() as session:
        source = next((s for s in await list_sources(session) if s.id == source_id), None)
        if source is None:
            raise NotFound(f"No source {source_id}.")
        found = await health(session, source_id, platform.rt.clock.now())
    context = {"viewer": who, "source": source, "health": found}
    return render(request, "sources/detail.html", context)
