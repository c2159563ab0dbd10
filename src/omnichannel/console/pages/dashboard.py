"""The dashboard: charts of the last 30 days (drawn by Chart.js from JSON in the page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from omnichannel.console.metrics import FiguresCache, figures
from omnichannel.console.security import Viewer, viewer
from omnichannel.console.templating import render
from omnichannel.platform import Platform, get_platform

router = APIRouter()


@router.get("/dashboard")
async def dashboard(
    request: Request, who: Viewer = Depends(viewer), platform: Platform = Depends(get_platform)
) -> Response:
    cache: FiguresCache = request.app.state.console_figures
    found = cache.get()
    if found is None:
        async with platform.rt.db.read() as session:
            found = await figures(session, platform.rt.clock.now())
        cache.put(found)
    return render(request, "dashboard.html", {"viewer": who, "figures": found.__dict__})
