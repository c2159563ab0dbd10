"""Test fixtures: a migrated real database per test, on SQLite and (when configured) PostgreSQL.

Storage tests take the ``backend`` fixture and so run once per backend. SQLite gets a copy of a
database migrated once per session (``alembic upgrade head`` runs for real, every session);
PostgreSQL (``OMNI_TEST_DATABASE_URL``) is migrated once and truncated before each test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from omnichannel.app import create_app
from omnichannel.config import Settings
from omnichannel.kit.clock import FrozenClock
from omnichannel.kit.migrate import upgrade
from omnichannel.platform import Platform
from omnichannel.schema import metadata
from tests.console.support import PASSWORD
from tests.helpers import START, app_platform, make_source, make_token
from tests.live import Live, omni, server

PG_URL = os.environ.get("OMNI_TEST_DATABASE_URL")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=pytest.mark.skipif(not PG_URL, reason="OMNI_TEST_DATABASE_URL not set")
    ),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "omni.db"
    upgrade(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    assert PG_URL
    reset_pg_schema(PG_URL)
    upgrade(Settings(database_url=PG_URL))
    return PG_URL


def reset_pg_schema(url: str) -> None:

    async def reset() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()

    asyncio.run(reset())


async def truncate_pg(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def fresh_database(url: str, template: Path, directory: Path) -> str:
    """An empty migrated database for one test or one hypothesis example, on ``url``'s backend."""
    if url.startswith("sqlite"):
        path = directory / f"omni-{uuid.uuid4().hex}.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    asyncio.run(truncate_pg(url))
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return fresh_database("sqlite", request.getfixturevalue("sqlite_template"), tmp_path)
    return fresh_database(request.getfixturevalue("pg_migrated"), Path(), tmp_path)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tests drive processing explicitly (``drain``) so every assertion sees a settled state.
    return Settings(database_url=database_url, embedded_worker=False, sqlite_synchronous="NORMAL")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def platform(settings: Settings, clock: FrozenClock) -> AsyncIterator[Platform]:
    platform = Platform(settings, clock)
    yield platform
    await platform.close()


@pytest.fixture
async def app_client(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the real app in-process (lifespan run, no network)."""
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omni.test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def web_key(app_client: httpx.AsyncClient) -> str:
    return await make_source(app_platform(app_client), "web", "Web")


@pytest.fixture
async def app_key(app_client: httpx.AsyncClient) -> str:
    return await make_source(app_platform(app_client), "app", "App")


@pytest.fixture
async def admin(app_client: httpx.AsyncClient) -> dict[str, str]:
    return await make_token(app_platform(app_client), "admin")


@pytest.fixture
def artifacts() -> Iterator[Path]:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    yield path


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium through Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Iterator[Live]:
    """A real ``omni serve`` (a subprocess, embedded worker on) over a fresh SQLite database, set
    up with the ``omni`` CLI as an operator would: console user ann (admin), sources for the web
    shop, the app and a store, and an admin token."""
    path = tmp_path / "omni.db"
    shutil.copyfile(sqlite_template, path)
    db = f"sqlite+aiosqlite:///{path}"
    assert omni(db, "users", "create", "--username", "ann", "--role", "admin", "--password",
                PASSWORD) == "user ann (admin) created"  # fmt: skip
    keys = {
        kind: omni(db, "sources", "create", "--kind", kind, "--name", name)
        for kind, name in (("web", "Web shop"), ("app", "Mobile app"), ("pos", "Store Lviv"))
    }
    token = omni(db, "tokens", "create", "--role", "admin", "--name", "tests")
    process, url = server(db, tmp_path / "serve.log")
    try:
        yield Live(url, keys, token)
    finally:
        process.stop()
