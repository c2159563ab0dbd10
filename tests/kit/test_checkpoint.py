"""SQLite's WAL is copied back into the database file by the background checkpointer
(kit.checkpoint), not by the writer's commits, and the thread ends with the database."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import text

from omnichannel.config import Settings
from omnichannel.kit.checkpoint import BACKSTOP_PAGES
from omnichannel.kit.db import Database


def rows_in_file_alone(path: Path, copy: Path) -> int:
    """Rows of ``t`` in the database file without its WAL: what a checkpoint has copied there."""
    shutil.copyfile(path, copy)
    connection = sqlite3.connect(copy)
    try:
        return int(connection.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        connection.close()


async def test_committed_pages_reach_the_database_file_without_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "omni.db"
    db = Database(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    try:
        async with db.write() as session:
            autocheckpoint = (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar()
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
        assert autocheckpoint == BACKSTOP_PAGES  # far more pages than this test writes
        async with db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
        assert db.checkpointer is not None and db.checkpointer.running
        copied = 0
        for _ in range(200):  # the thread runs every 0.2 s; allow it plenty of ticks
            await asyncio.sleep(0.05)
            try:
                copied = rows_in_file_alone(path, tmp_path / "copy.db")
            except sqlite3.OperationalError:  # the table itself is not in the file yet
                continue
            if copied == 3:
                break
        assert copied == 3
    finally:
        await db.dispose()
    assert not db.checkpointer.running
