"""Console users: create, authenticate by user name and password, look up by id; and for the
operator (``omni users …``): list them, disable and enable them, set a new password.

Passwords are hashed with Argon2id (``argon2-cffi``, its default RFC 9106 low-memory profile).
An unknown user name costs the same hash verification as a wrong password, so the answer's
timing does not tell an attacker which of the two was wrong.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.console.models import ROLES, ConsoleUser
from omnichannel.errors import InvalidRequest, NotFound, field_error
from omnichannel.events.models import Source
from omnichannel.events.sources import list_sources
from omnichannel.kit.ids import new_id
from omnichannel.kit.runtime import Runtime

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,59}$")
MIN_PASSWORD = 10
hasher = PasswordHasher()
# Verified against when the user name is unknown, so both failures take the same time.
_DUMMY_HASH = hasher.hash("not a password anyone has")
# One hash at a time in a process: a flood of sign-ins (each ~0.25 s of a core) then waits its
# turn instead of taking every core from ingestion and the API. A thread of its own, so no
# event loop owns it (each test has its own loop).
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
T = TypeVar("T")


async def _hashed(function: Callable[..., T], *args: str) -> T:
    """Run a password hash function off the event loop, one at a time."""
    return await asyncio.get_running_loop().run_in_executor(_HASHER, function, *args)


def _invalid(field: str, message: str) -> InvalidRequest:
    # Said as "password: at least 10 characters": `omni users create` prints the detail alone.
    return InvalidRequest(f"{field}: {message}", errors=[field_error(field, message)])


async def _store(session: AsyncSession, source_id: str | None) -> Source | None:
    if source_id is None:
        return None
    found = next((s for s in await list_sources(session) if s.id == source_id), None)
    if found is None or found.kind != "pos":
        raise _invalid("store", f"{source_id} is not a store (a source of kind pos).")
    return found


async def create_user(
    rt: Runtime,
    session: AsyncSession,
    username: str,
    password: str,
    role: str,
    store_source_id: str | None = None,
) -> ConsoleUser:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise _invalid("username", "2-60 characters: letters, digits, . _ @ -")
    if role not in ROLES:
        raise _invalid("role", f"one of: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise _invalid("password", f"at least {MIN_PASSWORD} characters")
    if (role == "store") != (store_source_id is not None):
        raise _invalid("store", "a store user needs a store (--store), and only a store user")
    await _store(session, store_source_id)
    if await by_username(session, username) is not None:
        raise _invalid("username", f"the user name {username} is taken")
    user = ConsoleUser(
        id=new_id(),
        username=username,
        password_hash=await _hashed(hasher.hash, password),
        role=role,
        store_source_id=store_source_id,
        created_at=rt.clock.now(),
    )
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession) -> list[ConsoleUser]:
    return list(
        (await session.execute(select(ConsoleUser).order_by(ConsoleUser.username))).scalars()
    )


async def _existing(session: AsyncSession, username: str) -> ConsoleUser:
    user = await by_username(session, username)
    if user is None:
        raise NotFound(f"No console user {username.strip().lower()}; `omni users list` shows them.")
    return user


async def set_user_disabled(
    rt: Runtime, session: AsyncSession, username: str, disabled: bool
) -> tuple[ConsoleUser, bool]:
    """Disable a user (their sessions end at once, signing in is refused) or enable them again.
    Returns the user, and whether this call changed anything."""
    user = await _existing(session, username)
    if (user.disabled_at is not None) == disabled:
        return user, False
    user.disabled_at = rt.clock.now() if disabled else None
    user.session_generation += 1  # enabled again, the sessions from before stay ended
    return user, True


async def set_password(session: AsyncSession, username: str, password: str) -> ConsoleUser:
    """A new password; every session of the user ends (whoever knew the old one is signed out)."""
    user = await _existing(session, username)
    if len(password) < MIN_PASSWORD:
        raise _invalid("password", f"at least {MIN_PASSWORD} characters")
    user.password_hash = await _hashed(hasher.hash, password)
    user.session_generation += 1
    return user


async def by_username(session: AsyncSession, username: str) -> ConsoleUser | None:
    query = select(ConsoleUser).where(ConsoleUser.username == username.strip().lower())
    return (await session.execute(query)).scalar_one_or_none()


async def end_sessions(session: AsyncSession, user_id: str) -> None:
    """Every session cookie of the user stops working (``console.security``)."""
    await session.execute(
        update(ConsoleUser)
        .where(ConsoleUser.id == user_id)
        .values(session_generation=ConsoleUser.session_generation + 1)
    )


async def get_user(session: AsyncSession, user_id: str) -> ConsoleUser | None:
    user = await session.get(ConsoleUser, user_id)
    return user if user is not None and user.disabled_at is None else None


async def authenticate(session: AsyncSession, username: str, password: str) -> ConsoleUser | None:
    """The active user with this name and password, or None (whichever part was wrong)."""
    user = await by_username(session, username)
    try:
        # Argon2 is deliberately slow (tens of ms of CPU): off the event loop.
        await _hashed(hasher.verify, user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    return user


async def provision(rt: Runtime, session: AsyncSession, username: str, password: str) -> None:
    """An active admin with this name and password, created or reset (``omni demo``'s login)."""
    user = await by_username(session, username)
    if user is None:
        await create_user(rt, session, username, password, "admin")
        return
    user.password_hash = await _hashed(hasher.hash, password)
    user.role, user.store_source_id, user.disabled_at = "admin", None, None
