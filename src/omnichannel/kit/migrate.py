"""Run Alembic migrations from code (``omni migrate``, ``omni demo``, the test fixtures).

The migrations ship inside the package, so an installed ``omni`` can migrate with no repo checkout.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from omnichannel.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url)
    config.attributes["connect_args"] = settings.connect_args  # read by migrations/env.py
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to ``revision``; must not be called from inside a running event loop."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Take the database back to ``revision``, undoing the later migrations (before running an
    older release); must not be called from inside a running event loop."""
    command.downgrade(alembic_config(settings), revision)


def shipped_revisions() -> list[str]:
    """This release's migrations, oldest first."""
    return [rev.revision for rev in reversed(list(_shipped().walk_revisions()))]


@functools.cache
def _shipped() -> ScriptDirectory:
    """The migrations in the package, read once (~9 ms of parsing files): they cannot change
    under a running process, and ``/readyz`` asks on every load balancer's probe."""
    return ScriptDirectory(str(MIGRATIONS))


async def pending_migrations(engine: AsyncEngine) -> list[str]:
    """The revisions the database still lacks (empty: it is up to date)."""
    script = _shipped()

    def heads(connection: Connection) -> tuple[str, ...]:
        return tuple(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        have = await connection.run_sync(heads)
    applied = {rev.revision for head in have for rev in script.iterate_revisions(head, "base")}
    return [rev.revision for rev in script.walk_revisions() if rev.revision not in applied]
