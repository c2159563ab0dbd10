"""The SQLite connections carry the configured durability and checkpoint settings."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from omnichannel.config import Settings
from omnichannel.kit.db import Database


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_every_sqlite_connection_takes_the_configured_pragmas(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, sqlite_synchronous="NORMAL", sqlite_wal_autocheckpoint=2500
    )
    db = Database(settings)
    try:
        for session_of in (db.write, db.read):
            async with session_of() as session:
                pragmas = {
                    name: (await session.execute(text(f"PRAGMA {name}"))).scalar_one()
                    for name in ("journal_mode", "synchronous", "wal_autocheckpoint")
                }
            assert pragmas == {"journal_mode": "wal", "synchronous": 1, "wal_autocheckpoint": 2500}
    finally:
        await db.dispose()


def test_a_checkpoint_interval_too_small_to_be_meant_is_refused() -> None:
    with pytest.raises(ValueError, match="sqlite_wal_autocheckpoint"):
        Settings(sqlite_wal_autocheckpoint=0)
