"""Sign in and sign out.

A wrong password and an unknown user name get the same answer (and cost the same time, see
``users.authenticate``). Failed attempts are counted per user name and per client address
(``ratelimit``); over the limit the form answers 429 without checking the password at all.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from omnichannel.console.ratelimit import LoginLimiter
from omnichannel.console.responses import local_target, redirect
from omnichannel.console.security import (
    COOKIE,
    Session,
    Sessions,
    Viewer,
    csrf,
    session_of,
    sessions,
    viewer,
)
from omnichannel.console.templating import render
from omnichannel.console.users import authenticate, by_username, end_sessions
from omnichannel.platform import Platform, get_platform

router = APIRouter()
WRONG = "Wrong user name or password."


def _page(request: Request, session: Session, status: int = 200, **context: object) -> Response:
    context.setdefault("next", request.query_params.get("next", ""))
    return render(request, "login.html", {"csrf_token": session.csrf, **context}, status)


@router.get("/login")
async def login_form(
    request: Request,
    session: Session = Depends(session_of),
    signer: Sessions = Depends(sessions),
) -> Response:
    response = _page(request, session)
    if session.new:
        signer.write(request, response, session)
    return response


@router.post("/login", dependencies=[Depends(csrf)])
async def login(
    request: Request,
    username: str = Form(max_length=200),
    password: str = Form(max_length=1000),
    next: str = Form(""),
    session: Session = Depends(session_of),
    signer: Sessions = Depends(sessions),
    platform: Platform = Depends(get_platform),
) -> Response:
    limiter: LoginLimiter = request.app.state.console_limiter
    name = username.strip().lower()
    address = request.client.host if request.client else "unknown"
    async with platform.rt.db.read() as db:
        known = await by_username(db, name)
    # A user's failures count per password: `omni users set-password` moves their session
    # generation on, so a new password lifts a lockout at once, in every process.
    counted = f"{name}/{known.session_generation}" if known else name
    wait = limiter.attempt(counted, address)
    if wait > 0:
        message = f"Too many sign-in attempts. Try again in {int(wait // 60) + 1} min."
        return _page(request, session, 429, error=message, username=username, next=next)
    async with platform.rt.db.read() as db:
        user = await authenticate(db, name, password)
    if user is None:
        return _page(request, session, 401, error=WRONG, username=username, next=next)
    limiter.succeeded(counted, address)
    response = redirect(request, local_target(next))
    # A fresh CSRF token with the new identity: nothing from before sign-in carries over.
    signer.write(request, response, Session(user_id=user.id, generation=user.session_generation))
    return response


@router.post("/logout", dependencies=[Depends(csrf)])
async def logout(
    request: Request, who: Viewer = Depends(viewer), platform: Platform = Depends(get_platform)
) -> Response:
    """Sign out: this user's sessions end everywhere, a copied cookie included."""
    async with platform.rt.db.write() as session:
        await end_sessions(session, who.user.id)
    response = redirect(request, "/console/login")
    response.delete_cookie(COOKIE, path="/")
    return response
