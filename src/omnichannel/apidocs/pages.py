"""``/docs`` (Swagger UI) and ``/redoc``, served whole from this package.

FastAPI's own pages load Swagger UI and Redoc from a CDN, and Redoc's fonts from Google: on a
machine without internet they were blank. These are the same pages (FastAPI's
``get_swagger_ui_html`` and ``get_redoc_html``) loading the copies that ``make vendor-docs`` keeps
in ``vendor/``, served at ``/docs/vendor/``. A Content-Security-Policy keeps the browser on this
server: Redoc's menu shows its makers' logo from their CDN, which the policy stops before it is
requested. No OAuth2 redirect page: the API's schemes are HTTP Bearer and Basic, whose
credentials Swagger UI's Authorize dialog takes itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

VENDOR = Path(__file__).resolve().parent / "vendor"
ASSETS = "/docs/vendor"
# Inline script and styles are the pages' own (FastAPI's start-up script, React's styles); Redoc
# runs its search in a worker made from a blob. Nothing may come from, or go to, another host.
POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ]
)


def _on_server(request: Request, path: str) -> str:
    """``path`` as this server is reached (behind a proxy's prefix, its ``root_path``)."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/") + path


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page


async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    assert app.openapi_url is not None
    return _confined(
        get_swagger_ui_html(
            openapi_url=_on_server(request, app.openapi_url),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_on_server(request, f"{ASSETS}/swagger-ui-bundle.js"),
            swagger_css_url=_on_server(request, f"{ASSETS}/swagger-ui.css"),
            swagger_favicon_url=_on_server(request, f"{ASSETS}/favicon-32x32.png"),
            # No badge from swagger.io's online validator, which would be sent the document's URL.
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    assert app.openapi_url is not None
    return _confined(
        get_redoc_html(
            openapi_url=_on_server(request, app.openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=_on_server(request, f"{ASSETS}/redoc.standalone.js"),
            redoc_favicon_url=_on_server(request, f"{ASSETS}/favicon-32x32.png"),
            with_google_fonts=False,
        )
    )


def install(app: FastAPI) -> None:
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=VENDOR), name="api-docs-vendor")
