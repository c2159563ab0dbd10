"""Request bodies are read up to a limit, never whole, so a client cannot fill the server's memory.

Starlette reads a body whole before anyone looks at its size: one 500 MB POST took a server
from 120 MB to 1.1 GB, before the write key or the token was checked. ``read_at_most`` reads a
body chunk by chunk and stops at the limit (or before reading at all, when ``Content-Length``
says it is over); ingestion uses it with its own limits. ``BodyLimit`` is the same rule for
every other route, as ASGI middleware: those take small JSON bodies and forms.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnichannel.errors import http_problem, problem_response

# The profile API's and the console's bodies are a few KB; this is far above any of them.
OTHER_ROUTES_LIMIT = 1024 * 1024


class TooLarge(Exception):
    """The body is over the limit."""


def declared_over(request: Request, limit: int) -> bool:
    """Whether the ``Content-Length`` a request declares is over ``limit``."""
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


async def read_at_most(request: Request, limit: int) -> bytes:
    """The body, or TooLarge as soon as more than ``limit`` bytes are declared or have come."""
    if declared_over(request, limit):
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimit:
    """Refuse a body over ``limit`` with a 413, the rest of it unread."""

    def __init__(self, app: ASGIApp, limit: int = OTHER_ROUTES_LIMIT) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"The body is over {self.limit} bytes."
        if declared_over(Request(scope), self.limit):
            await problem_response(http_problem(413, too_large))(scope, receive, send)
            return
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > self.limit:  # a body sent without Content-Length (chunked): the routes'
                raise HTTPException(413, too_large)  # handlers answer it (errors.on_http)
            return message

        await self.app(scope, counted, send)
