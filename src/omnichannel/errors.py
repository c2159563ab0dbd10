"""Error types and their RFC 9457 problem+json rendering.

Every error a client can cause is a ``Problem`` subclass carrying its HTTP status and a stable
``type``; one handler renders them, so routes raise and never build error responses by hand.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount

log = logging.getLogger(__name__)
PROBLEM_BASE = "https://omnichannel.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class Problem(Exception):
    """An error the client caused (or may retry); rendered as problem+json."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class InvalidRequest(Problem):
    status, slug, title = 400, "invalid-request", "The request is not valid"


class InvalidJSON(Problem):
    status, slug, title = 400, "invalid-json", "The body is not valid JSON"


class PayloadTooLarge(Problem):
    status, slug, title = 400, "payload-too-large", "The payload is too large"


class UnsupportedEncoding(Problem):
    status, slug, title = 415, "unsupported-encoding", "The body's encoding is not supported"


class Unauthorized(Problem):
    """401 for a missing or unknown write key (Basic auth, as Segment's SDKs send it)."""

    status, slug, title = 401, "unauthorized", "Authentication is required"
    challenge = 'Basic realm="omnichannel"'  # the WWW-Authenticate header: what to send


class TokenRequired(Unauthorized):
    """401 for a missing or unknown API token (Bearer)."""

    challenge = 'Bearer realm="omnichannel"'


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "This credential may not do that"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "The request conflicts with the current state"


class Unavailable(Problem):
    status, slug, title = 503, "unavailable", "The database is unavailable; retry shortly"


class InternalError(Problem):
    status, slug, title = 500, "internal", "Something went wrong on our side"


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def refuse_unknown(field: str, given: list[str], known: tuple[str, ...] | list[str]) -> None:
    """Refuse a filter naming a value outside ``known``: a typo would quietly match nothing."""
    if unknown := sorted(set(given).difference(known)):
        raise InvalidRequest(
            f"Unknown {field} {', '.join(unknown)}; one of {', '.join(known)}.",
            errors=[field_error(field, f"one of {', '.join(known)}")],
        )


def problem_response(problem: Problem) -> Response:
    headers = None
    if isinstance(problem, Unauthorized):
        headers = {"WWW-Authenticate": problem.challenge}
    elif problem.status == 503:
        headers = {"Retry-After": "1"}
    return Response(
        orjson.dumps(problem.body()),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _location(loc: tuple[Any, ...]) -> str:
    """pydantic's error location named as every other error names a field: ``a[0].b``."""
    field = ""
    for part in loc:
        if part in ("body", "query", "path"):
            continue
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    return field or "body"


def http_problem(status: int, detail: str) -> Problem:
    """A plain HTTP error (404 of an unknown path, 405…) as a problem."""
    problem = Problem(detail)
    problem.status, problem.slug, problem.title = status, "http", detail
    return problem


def database_problem(exc: Exception) -> Problem:
    """The answer to a database that failed a call (DBAPIError, or a refused connection): a 400
    when it refused the request's data, a 503 to retry otherwise."""
    code = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    if code.startswith("22"):  # SQLSTATE class 22, a data exception: the value is the client's
        return InvalidRequest(
            "A value in the request is one the database cannot take (a NUL character, say); "
            "change it, retrying will not help."
        )
    # Nothing was acknowledged: the client (every Segment SDK retries 5xx) sends it again.
    # A timeout says nothing in its text: its kind is the news (a statement waited too long).
    log.error("database error: %s", str(exc) or f"{type(exc).__name__} (no answer in time)")
    return Unavailable("The database did not accept the write or the read; retry shortly.")


def allowed_methods(request: Request) -> str:
    """Every method a route takes at the request's path. Starlette's own ``Allow`` names only
    the first route there, and a path may have several (a profile's GET and its DELETE). A
    mount (static files) matches any method: its own ``Allow`` stands."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    return ", ".join(
        method
        for method in METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


def install_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [field_error(_location(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(InvalidRequest(detail, errors=errors))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        response = problem_response(http_problem(exc.status_code, str(exc.detail)))
        response.headers.update(exc.headers or {})
        # RFC 9110: a 405 names the methods the resource takes.
        if exc.status_code == 405 and (methods := allowed_methods(request)):
            response.headers["Allow"] = methods
        return response

    async def on_database(_: Request, exc: Exception) -> Response:
        return problem_response(database_problem(exc))

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        # A bug of ours: the same problem+json as any error (Starlette logs the traceback after).
        return problem_response(
            InternalError("An unexpected error; it is logged. Retry, and report it if it stays.")
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(DBAPIError, on_database)
    # A server that refuses the connection surfaces from asyncpg as a plain ConnectionError,
    # one that never answers as a TimeoutError (OMNI_DATABASE_CONNECT_TIMEOUT_SECONDS).
    app.add_exception_handler(ConnectionError, on_database)
    app.add_exception_handler(TimeoutError, on_database)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
