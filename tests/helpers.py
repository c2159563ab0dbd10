"""Helpers the tests share: drive the worker, make sources and tokens, count rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from omnichannel.auth.service import create_token
from omnichannel.events.sources import create_source
from omnichannel.platform import Platform
from omnichannel.schema import metadata
from omnichannel.worker import Worker

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def app_platform(client: httpx.AsyncClient) -> Platform:
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    return platform


async def drain(client_or_platform: httpx.AsyncClient | Platform) -> None:
    platform = (
        client_or_platform
        if isinstance(client_or_platform, Platform)
        else app_platform(client_or_platform)
    )
    await Worker(platform).drain()


async def make_source(platform: Platform, kind: str = "web", name: str | None = None) -> str:
    async with platform.rt.db.write() as session:
        _, key = await create_source(platform.rt, session, kind, name or kind.title())
    return key


async def make_token(platform: Platform, role: str = "admin") -> dict[str, str]:
    async with platform.rt.db.write() as session:
        _, secret = await create_token(platform.rt, session, role, f"test-{role}")
    return {"Authorization": f"Bearer {secret}"}


async def count_rows(platform: Platform, table: str) -> int:
    async with platform.rt.db.read() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def table_counts(platform: Platform) -> dict[str, int]:
    return {t.name: await count_rows(platform, t.name) for t in metadata.sorted_tables}


def basic(key: str) -> httpx.BasicAuth:
    return httpx.BasicAuth(key, "")


def nothing_but(counts: dict[str, int], **expected: int) -> dict[str, Any]:
    """Counts that differ from ``expected`` (0 for tables not named): {} when all match."""
    return {t: n for t, n in counts.items() if n != expected.get(t, 0)}
