"""Raw-driver access to the benchmark databases: sqlite3 and asyncpg, no SQLAlchemy.

Used for what must not go through the code under test: creating and dropping PostgreSQL
databases, the bulk-insert baseline, seeding profiles directly into the tables ``omni migrate``
created, and polling the backlog of pending events. Values are written the way the application
writes them (SQLAlchemy's SQLite datetime text, naive UTC; JSON as text), so the server reads
seeded rows back as its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import orjson

from omnichannel.config import Settings

Row = tuple[Any, ...]


def _sqlite_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy) → ``postgresql://…`` (asyncpg)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def recreate_pg_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    """Drop ``name`` (ending its sessions) and create it empty, through ``admin_url``'s server."""
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class RawDB:
    """One raw connection; ``insert`` writes rows in one transaction with executemany."""

    backend: str

    def ts(self, moment: datetime) -> Any:
        raise NotImplementedError

    def json(self, value: Any) -> Any:
        return orjson.dumps(value).decode()

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        raise NotImplementedError

    async def bulk_load(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """The fastest load the backend has (COPY on PostgreSQL); used only for seeding."""
        await self.insert(table, columns, rows)

    async def scalar(self, sql: str) -> Any:
        raise NotImplementedError

    async def execute(self, sql: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def pending(self) -> int:
        return int(await self.scalar("SELECT count(*) FROM events WHERE status = 0"))

    async def any_pending(self) -> bool:
        return bool(await self.scalar("SELECT EXISTS (SELECT 1 FROM events WHERE status = 0)"))

    async def after_seed(self) -> None:
        """Make the database ready for the server after rows were written with explicit ids."""


class SqliteDB(RawDB):
    backend = "sqlite"

    def __init__(self, path: str, synchronous: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # The server's own pragmas (omnichannel.kit.db), so the baseline gets the same durability
        # and the same checkpoints.
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            "foreign_keys=ON",
            "busy_timeout=60000",
            "cache_size=-65536",
            f"wal_autocheckpoint={Settings().sqlite_wal_autocheckpoint}",
        ):
            self.conn.execute(f"PRAGMA {pragma}")

    def ts(self, moment: datetime) -> Any:
        return _sqlite_ts(moment)

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(sql, rows)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    async def scalar(self, sql: str) -> Any:
        return self.conn.execute(sql).fetchone()[0]

    async def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    async def close(self) -> None:
        self.conn.close()


class PostgresDB(RawDB):
    backend = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str) -> PostgresDB:
        return cls(await asyncpg.connect(asyncpg_dsn(url)))

    def ts(self, moment: datetime) -> Any:
        return moment

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        async with self.conn.transaction():
            await self.conn.executemany(sql, rows)

    async def bulk_load(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def scalar(self, sql: str) -> Any:
        return await self.conn.fetchval(sql)

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def close(self) -> None:
        await self.conn.close()

    async def after_seed(self) -> None:
        # Seeded events carry explicit ids: move the sequence past them, then fresh statistics.
        await self.conn.execute(
            "SELECT setval(pg_get_serial_sequence('events', 'id'), "
            "(SELECT coalesce(max(id), 1) FROM events))"
        )
        await self.conn.execute("ANALYZE")
