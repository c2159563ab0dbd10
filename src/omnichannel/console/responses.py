"""Answers the pages share: a redirect that also works for HTMX requests, safe "next" targets."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

HOME = "/console"


def is_htmx(request: Request) -> bool:
    """An HTMX request for a fragment (a history restore wants the whole page)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


def redirect(request: Request, url: str) -> Response:
    """303 for a plain form post; for HTMX an ``HX-Redirect`` so the whole page moves."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def local_target(url: str | None) -> str:
    """Where to go after signing in: only a console path, never another site, nor a path that
    climbs out of the console (``/console/../..//evil.example/``)."""
    url, plain = url or "", unquote(url or "")  # a browser reads %2e as a dot in a path
    if url.startswith(HOME) and not any(part in plain for part in ("\\", "/.", "//")):
        return url
    return HOME
