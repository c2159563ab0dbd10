"""Run Alembic migrations from code (``omni migrate``, ``omni demo``, the test fixtures).

The migrations ship inside the package, so an installed ``omni`` can migrate with no repo checkout.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from omnichannel.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url)
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to ``revision``; must not be called from inside a running event loop."""
    command.upgrade(alembic_config(settings), revision)
