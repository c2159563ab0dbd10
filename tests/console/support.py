"""What the console tests share: console users, signing in through the form, CSRF tokens."""

from __future__ import annotations

import re

import httpx

from omnichannel.console.users import create_user
from omnichannel.platform import Platform

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def make_user(platform: Platform, username: str, role: str, store: str | None = None) -> None:
    async with platform.rt.db.write() as session:
        await create_user(platform.rt, session, username, PASSWORD, role, store)


def csrf_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    """Open the login page (which sets the session cookie) and post the form from it."""
    page = await client.get("/console/login")
    assert page.status_code == 200
    form = {"username": username, "password": password, "csrf_token": csrf_of(page.text)}
    return await client.post("/console/login", data=form)


async def signed_in_token(client: httpx.AsyncClient, username: str) -> str:
    """Sign in and return the session's CSRF token (as every page's forms carry it)."""
    response = await sign_in(client, username)
    assert response.status_code == 303, response.text
    return csrf_of((await client.get("/console/customers")).text)
