"""The migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from omnichannel.config import Settings
from omnichannel.kit.migrate import downgrade, shipped_revisions, upgrade
from omnichannel.schema import metadata


@pytest.mark.usefixtures("backend")
async def test_models_and_migrations_agree(database_url: str) -> None:
    assert await schema_diff(database_url) == [], (
        "a model changed without a migration: run alembic revision --autogenerate"
    )


@pytest.mark.usefixtures("backend")
def test_every_migration_goes_back_and_forward_again(database_url: str) -> None:
    """``omni migrate --to`` takes a database back before a roll-back: every step undoes."""
    settings = Settings(database_url=database_url)
    for revision in [*reversed(shipped_revisions()[:-1]), "base"]:
        downgrade(settings, revision)
    upgrade(settings)
    assert asyncio.run(schema_diff(database_url)) == []


async def schema_diff(database_url: str) -> list[object]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    return list(diff)
