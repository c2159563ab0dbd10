"""Console sessions, CSRF protection and the page guards.

A session is a cookie signed with itsdangerous (the same scheme Starlette's SessionMiddleware
uses), holding only the user id, the user's session generation and the session's CSRF token; it
is read by the console's own dependency rather than a middleware, so the ingestion routes never
pay for it. Every request re-reads the user, so a disabled user or a changed role takes effect at
once, and so does signing out: it moves the user's generation on, and a cookie of an older one
(a copy kept on a shared store PC, say) no longer signs anyone in.

CSRF: every state-changing request must echo the session's token, as the ``csrf_token`` form
field or, for HTMX, the ``X-CSRF-Token`` header (set once on ``<body hx-headers>``). The cookie
is also ``SameSite=Lax``; the token is what stops a cross-site form post.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from omnichannel.console.models import ConsoleUser
from omnichannel.console.secret import session_secret
from omnichannel.console.users import get_user
from omnichannel.platform import Platform, get_platform

COOKIE = "omni_console"
MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """No valid session: the page answers with a way to the login page."""


class NotAllowed(Exception):
    """Signed in, but this user's role may not do this."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    user_id: str | None = None
    generation: int = 0
    # True when the browser does not hold this session yet (the response must set the cookie).
    new: bool = False


@dataclass(frozen=True)
class Viewer:
    user: ConsoleUser
    session: Session

    @property
    def role(self) -> str:
        return self.user.role

    def may(self, *roles: str) -> bool:
        return self.user.role == "admin" or self.user.role in roles


class Sessions:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="omnichannel.console.session")

    def read(self, request: Request) -> Session:
        cookie = request.cookies.get(COOKIE)
        if cookie:
            try:
                data = self._serializer.loads(cookie, max_age=MAX_AGE)
            except BadSignature:  # also expired: SignatureExpired is a BadSignature
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                generation = data.get("gen", 0)
                return Session(
                    csrf=data["csrf"],
                    user_id=data.get("uid"),
                    generation=generation if isinstance(generation, int) else -1,
                )
        return Session(new=True)

    def write(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(
                {"uid": session.user_id, "gen": session.generation, "csrf": session.csrf}
            ),
            max_age=MAX_AGE,
            path="/",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="lax",
        )


async def sessions(request: Request, platform: Platform = Depends(get_platform)) -> Sessions:
    """The signer, built once the secret is known (it may live in the database)."""
    state = request.app.state
    found: Sessions | None = getattr(state, "console_sessions", None)
    if found is None:
        found = Sessions(await session_secret(platform.rt))
        state.console_sessions = found
    return found


async def session_of(request: Request, signer: Sessions = Depends(sessions)) -> Session:
    return signer.read(request)


async def viewer(
    session: Session = Depends(session_of), platform: Platform = Depends(get_platform)
) -> Viewer:
    """The signed-in user of this request, or ``LoginRequired``."""
    if session.user_id is None:
        raise LoginRequired()
    async with platform.rt.db.read() as db:
        user = await get_user(db, session.user_id)
    if user is None or user.session_generation != session.generation:
        raise LoginRequired()  # disabled, or signed out since this cookie was signed
    return Viewer(user, session)


def role(*roles: str) -> Any:
    """A dependency: the signed-in user must hold one of ``roles`` (admin always may)."""

    async def dependency(who: Viewer = Depends(viewer)) -> Viewer:
        if not who.may(*roles):
            raise NotAllowed(f"The {who.role} role may not open this page or do this.")
        return who

    return Depends(dependency)


async def csrf(request: Request, session: Session = Depends(session_of)) -> None:
    """A dependency: refuse (403) a state-changing request without the session's token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if session.new or not sent or not hmac.compare_digest(sent, session.csrf):
        raise NotAllowed("The form was stale or did not come from this console; reload the page.")
