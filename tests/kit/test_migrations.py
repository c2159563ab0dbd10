"""The migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from omnichannel.schema import metadata


@pytest.mark.usefixtures("backend")
async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == [], "a model changed without a migration: run alembic revision --autogenerate"
