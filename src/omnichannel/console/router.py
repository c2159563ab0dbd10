"""Mounting the console on the app: its pages under ``/console``, assets, the demo shop, and
error pages (HTML for people, where the API answers problem+json)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnichannel.console import demo_shop
from omnichannel.console.metrics import FiguresCache
from omnichannel.console.pages import customers, dashboard, login, sources
from omnichannel.console.ratelimit import LoginLimiter
from omnichannel.console.responses import HOME, is_htmx
from omnichannel.console.security import LoginRequired, NotAllowed, Viewer, viewer
from omnichannel.console.templating import STATIC, render
from omnichannel.errors import PROBLEM_MEDIA_TYPE, Problem

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


def _for_people(api_handler: Any) -> Any:
    """The API's handler, whose problem+json becomes the console's error page on its paths."""

    async def handle(request: Request, exc: Exception) -> Response:
        answer: Response = await api_handler(request, exc)
        if not request.url.path.startswith(HOME) or answer.media_type != PROBLEM_MEDIA_TYPE:
            return answer
        problem = orjson.loads(answer.body)
        page = _error(request, problem["status"], problem["detail"])
        # The answer's Allow and Retry-After go with the page; a WWW-Authenticate does not: a
        # browser would ask for a password the console never takes (it has its own form).
        for name in ("Allow", "Retry-After"):
            if name in answer.headers:
                page.headers[name] = answer.headers[name]
        return page

    return handle


async def _root() -> Response:
    """The server's address, opened in a browser (``make demo`` prints it): the console."""
    return RedirectResponse(HOME, status_code=307)


def install(app: FastAPI) -> None:
    """Add the console to ``app``: routes, static assets, per-process state, error pages."""
    app.add_api_route("/", _root, methods=["GET", "HEAD"], include_in_schema=False)
    app.include_router(router)
    app.include_router(demo_shop.router)
    app.mount(f"{HOME}/static", StaticFiles(directory=STATIC), name="console-static")
    app.state.console_limiter = LoginLimiter()
    app.state.console_figures = FiguresCache()
    # Every error the API answers as problem+json (refusals, bad input, the database away, a
    # bug) is an HTML page with the same status and words for a person in the console.
    for kind in (Problem, RequestValidationError, StarletteHTTPException, DBAPIError,
                 ConnectionError, TimeoutError, Exception):  # fmt: skip
        app.add_exception_handler(kind, _for_people(app.exception_handlers[kind]))

    async def on_not_allowed(request: Request, exc: Exception) -> Response:
        return _error(request, 403, exc.message if isinstance(exc, NotAllowed) else "Forbidden")

    app.add_exception_handler(NotAllowed, on_not_allowed)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_middleware(ConsoleHeaders)


class ConsoleHeaders:
    """Headers every console answer carries. Its pages hold customers' data: no browser cache
    keeps them (after sign-out on a shared till PC, Back showed the last customer), and no other
    page may frame them (a sibling site framing the 360 view, its Erase button included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(HOME):
            await self.app(scope, receive, send)
            return
        # Vendored assets hold no one's data, and are fetched on every page.
        cached = path.startswith(f"{HOME}/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not cached:
                    headers["Cache-Control"] = "no-store"
                headers["X-Frame-Options"] = "DENY"
                headers["Content-Security-Policy"] = "frame-ancestors 'none'"
                headers["Referrer-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, with_headers)
