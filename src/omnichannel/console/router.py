"""Mounting the console on the app: its pages under ``/console``, assets, the demo shop, and
error pages (HTML for people, where the API answers problem+json)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from omnichannel.console import demo_shop
from omnichannel.console.metrics import FiguresCache
from omnichannel.console.pages import customers, dashboard, login, sources
from omnichannel.console.ratelimit import LoginLimiter
from omnichannel.console.responses import HOME, is_htmx
from omnichannel.console.security import LoginRequired, NotAllowed, Viewer, viewer
from omnichannel.console.templating import STATIC, render
from omnichannel.errors import Problem

router = APIRouter(prefix=HOME, include_in_schema=False)
for page in (login, customers, sources, dashboard):
    router.include_router(page.router)


@router.get("")
async def home(_: Viewer = Depends(viewer)) -> Response:
    return RedirectResponse(f"{HOME}/customers", status_code=303)


async def _to_login(request: Request, _: Exception) -> Response:
    """No session: HTMX is told to move the whole page; a browser is sent to sign in first."""
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": f"{HOME}/login"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{HOME}/login?next={quote(target)}", status_code=303)


def _error(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, status)


def install(app: FastAPI) -> None:
    """Add the console to ``app``: routes, static assets, per-process state, error pages."""
    app.include_router(router)
    app.include_router(demo_shop.router)
    app.mount(f"{HOME}/static", StaticFiles(directory=STATIC), name="console-static")
    app.state.console_limiter = LoginLimiter()
    app.state.console_figures = FiguresCache()
    api_problem: Any = app.exception_handlers[Problem]

    async def on_problem(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(HOME) or not isinstance(exc, Problem):
            return await api_problem(request, exc)  # type: ignore[no-any-return]
        return _error(request, exc.status, exc.detail)

    async def on_not_allowed(request: Request, exc: Exception) -> Response:
        return _error(request, 403, exc.message if isinstance(exc, NotAllowed) else "Forbidden")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(NotAllowed, on_not_allowed)
    app.add_exception_handler(LoginRequired, _to_login)
