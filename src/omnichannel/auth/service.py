"""API tokens: create (the secret is shown once), list, revoke, verify, and the dependency that
checks roles.

The token is read through FastAPI's ``HTTPBearer`` so that the OpenAPI document declares the
scheme (``apiToken``) on every route that needs it, and ``/docs`` has an Authorize button that
sends it; with ``auto_error=False`` it only reads the header, and the refusals stay ours
(problem+json 401 with a Bearer challenge, 403 naming the roles)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.auth.models import ROLES, ApiToken
from omnichannel.errors import Forbidden, InvalidRequest, NotFound, TokenRequired, field_error
from omnichannel.kit.ids import API_TOKEN_PREFIX, WRITE_KEY_PREFIX, digest, new_id, new_secret
from omnichannel.kit.runtime import Runtime
from omnichannel.platform import Platform, get_platform

API_TOKEN = HTTPBearer(
    scheme_name="apiToken",
    description="An API token (`omni tokens create`), sent as `Authorization: Bearer <token>`.",
    auto_error=False,
)


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: str


async def create_token(
    rt: Runtime, session: AsyncSession, role: str, name: str
) -> tuple[ApiToken, str]:
    if role not in ROLES:
        raise InvalidRequest(
            f"Unknown role '{role}'; use one of: {', '.join(ROLES)}.",
            errors=[field_error("role", "unknown role")],
        )
    secret = new_secret(API_TOKEN_PREFIX)
    token = ApiToken(
        id=new_id(), name=name, role=role, token_hash=digest(secret), created_at=rt.clock.now()
    )
    session.add(token)
    await session.flush()
    return token, secret


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.execute(select(ApiToken).order_by(ApiToken.created_at))).scalars())


async def revoke_token(rt: Runtime, session: AsyncSession, token_id: str) -> tuple[ApiToken, bool]:
    """Revoke a token for good; processes that checked it stop taking it within
    ``token_cache_seconds``. Returns it, and whether this call revoked it (it may have been
    already: it keeps the time it was first revoked)."""
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No API token {token_id}; `omni tokens list` shows them.")
    if token.revoked_at is not None:
        return token, False
    token.revoked_at = rt.clock.now()
    return token, True


async def verify(session: AsyncSession, secret: str) -> Principal | None:
    return await _holder(session, digest(secret))


async def _holder(session: AsyncSession, token_hash: str) -> Principal | None:
    query = select(ApiToken).where(ApiToken.token_hash == token_hash)
    token = (await session.execute(query)).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    return Principal(token.id, token.name, token.role)


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's Bearer token must hold one of ``roles`` (admin always may)."""
    allowed = {"admin", *roles}

    async def dependency(
        platform: Platform = Depends(get_platform),
        bearer: HTTPAuthorizationCredentials | None = Security(API_TOKEN),
    ) -> Principal:
        if bearer is None:  # no Authorization header, another scheme, or no token after Bearer
            raise TokenRequired(
                "Send an API token as `Authorization: Bearer …` (`omni tokens create`)."
            )
        token_hash = digest(bearer.credentials)

        async def load() -> Principal | None:
            async with platform.rt.db.read() as session:
                return await _holder(session, token_hash)

        principal = await platform.principals.get(token_hash, load)
        if principal is None:
            if bearer.credentials.startswith(WRITE_KEY_PREFIX):
                raise TokenRequired(
                    "That is a source's write key, for the ingestion API (the Basic-auth user "
                    "name), not an API token (`omni tokens create`)."
                )
            raise TokenRequired("Unknown or revoked API token.")
        if principal.role not in allowed:
            raise Forbidden(
                f"The {principal.role} role may not do this; "
                f"it needs one of: {', '.join(sorted(allowed))}."
            )
        return principal

    return dependency


ANY_ROLE = require(*ROLES)
