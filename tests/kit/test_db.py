"""The SQLite connections carry the configured durability and checkpoint settings."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_reads_answer_as_the_driver_does_in_one_trip_a_statement(database_url: str) -> None:
    db = Database(Settings(database_url=database_url))
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, name TEXT)"))
            await session.execute(text("INSERT INTO t VALUES (1, 'ann'), (2, 'bob')"))
        async with db.read() as session:
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            assert type(driver).__name__ == "OneTripConnection"
            rows = await session.execute(text("SELECT n, name FROM t ORDER BY n"))
            assert list(rows.keys()) == ["n", "name"] and rows.all() == [(1, "ann"), (2, "bob")]
            one = await session.execute(text("SELECT name FROM t WHERE n = :n"), {"n": 2})
            assert one.scalar_one() == "bob"
            assert (await session.execute(text("SELECT n FROM t WHERE n > 5"))).all() == []
            streamed = await session.stream(text("SELECT n FROM t ORDER BY n"))
            assert [row async for row in streamed] == [(1,), (2,)]
            with pytest.raises(OperationalError, match="no such table"):
                await session.execute(text("SELECT * FROM missing"))
            # The failed statement left the connection as it was: the transaction goes on.
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_libpq_url_with_sslmode_connects(database_url: str) -> None:
    """Managed databases hand out ``?sslmode=require``; asyncpg calls it ``ssl``."""
    db = Database(Settings(database_url=database_url.replace("+asyncpg", "") + "?sslmode=prefer"))
    try:
        async with db.read() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()


@pytest.mark.usefixtures("backend")
async def test_a_failed_statements_error_names_no_customers_data(database_url: str) -> None:
    """Its text is logged, and no erasure reaches a log."""
    db = Database(Settings(database_url=database_url))
    try:
        with pytest.raises(DBAPIError) as failed:
            async with db.write() as session:
                statement = text("INSERT INTO no_such_table VALUES (:email)")
                await session.execute(statement, {"email": "leak@example.com"})
        assert "leak@example.com" not in str(failed.value)
    finally:
        await db.dispose()
