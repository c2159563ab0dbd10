"""Database access: async SQLAlchemy 2 over aiosqlite (embedded default) or asyncpg (production).

``Database.write()`` and ``Database.read()`` hand out sessions whose transaction commits when the
block ends. Services never commit; the request or the job that owns the block does.

On SQLite all writes go through one connection that starts its transactions with
``BEGIN IMMEDIATE``: the write lock is taken up front, so two processes (``serve`` and ``worker``)
queue on SQLite's busy timeout instead of failing with "database is locked" halfway through a
transaction. Reads use their own pool and see committed data through WAL without blocking writers;
each of their statements is one trip to the driver's thread (``kit.one_trip``).
On PostgreSQL both are one pool and concurrency is row locks plus ``FOR UPDATE SKIP LOCKED``.

A database can answer and still refuse every write (its disk full, its file read-only): the
last such refusal is kept for ``REFUSALS_KEPT_SECONDS`` unless a write succeeds meanwhile, so
``/readyz`` can say so (a load balancer then sends the calls elsewhere, and tries this process
again once the memory has passed).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from omnichannel.config import Settings
from omnichannel.kit.one_trip import use_one_trip_cursors


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    # SQLite gives a column declared JSON numeric affinity: the text "30" of a trait value 30 is
    # stored as the integer 30 and read back as an int, which is already the decoded value.
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


REFUSALS_KEPT_SECONDS = 10.0
# How long a SQLite write waits for the lock another process holds.
BUSY_TIMEOUT_MS = 60_000
# SQLite's words for a write it cannot make at all (SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY).
SQLITE_REFUSALS = ("database or disk is full", "disk I/O error", "readonly database")


def refuses_writes(exc: BaseException) -> bool:
    """Whether a failed transaction says the database takes no writes at all (not that this
    one's data was wrong, nor that it lost a race): SQLite's disk full, I/O error or read-only
    file; PostgreSQL's insufficient resources (53: disk full, out of memory) or system errors
    (58: an I/O error)."""
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc.orig, sqlite3.OperationalError):
        return any(words in str(exc.orig) for words in SQLITE_REFUSALS)
    return str(getattr(exc.orig, "sqlstate", "") or "")[:2] in ("53", "58")


class Database:
    def __init__(self, settings: Settings) -> None:
        self._refused: tuple[float, str] | None = None
        self.url = settings.database_url
        self.dialect = "sqlite" if settings.is_sqlite else "postgresql"
        common: dict[str, Any] = {
            "json_serializer": _json_dumps,
            "json_deserializer": _json_loads,
            # A failed statement's error is logged (errors.database_problem); its parameters
            # are customers' e-mails and phones, and no erasure reaches a log.
            "hide_parameters": True,
        }
        if self.dialect == "sqlite":
            # Sessions always end in COMMIT or ROLLBACK, so the pool's own reset-on-return
            # rollback is a wasted round trip to the driver thread on every write.
            self.writer = create_async_engine(
                self.url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=300,
                pool_reset_on_return=None,
                **common,
            )
            self.reader = create_async_engine(
                self.url, pool_size=4, max_overflow=4, pool_reset_on_return=None, **common
            )
            use_one_trip_cursors(self.reader)
            _sqlite_setup(self.writer, settings, immediate=True)
            _sqlite_setup(self.reader, settings, immediate=False)
        else:
            self.writer = create_async_engine(
                self.url,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                connect_args=settings.serving_connect_args,
                **common,
            )
            self.reader = self.writer
        self._write_sessions = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that may write; commits on success, rolls back on any exception."""
        try:
            async with self._write_sessions() as session, session.begin():
                yield session
        except Exception as exc:
            if refuses_writes(exc):
                self._refused = (time.monotonic(), str(getattr(exc, "orig", exc)))
            raise
        self._refused = None

    def refusing_writes(self) -> str | None:
        """Why the last write failed, if the database refused it as it refuses any write and no
        write has succeeded since, within ``REFUSALS_KEPT_SECONDS``."""
        if self._refused is None or time.monotonic() - self._refused[0] > REFUSALS_KEPT_SECONDS:
            return None
        return self._refused[1]

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session, session.begin():
            yield session

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT that supports ``on_conflict_do_nothing/update`` on this backend."""
        return dialect_insert(self.dialect, table)

    async def lock(self, session: AsyncSession, name: str, *, shared: bool = False) -> None:
        """Hold a named lock until the transaction ends: a PostgreSQL advisory lock, which lives
        in memory and writes nothing. SQLite needs none: its one writer is exclusive already."""
        if self.dialect == "postgresql":
            function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            await session.execute(text(f"SELECT {function}(hashtext(:name))"), {"name": name})

    @property
    def concurrent_writers(self) -> bool:
        """Whether writers run concurrently (PostgreSQL): claims need ``FOR UPDATE SKIP LOCKED``
        and read-then-write needs an optimistic version check. SQLite's ``BEGIN IMMEDIATE``
        makes every write transaction exclusive, so neither is needed there."""
        return self.dialect == "postgresql"

    async def empty_wal(self) -> bool:
        """SQLite: copy the WAL back into the database file and empty it, so that rows just
        deleted (an erasure) do not linger there as old page versions, readable in the file
        until later writes overwrite them. Best effort: a reader still on an older snapshot
        keeps the WAL, so this waits for one at most a second, not the 60 s a write waits,
        since every write waits for it meanwhile. Returns whether it emptied it."""
        if self.dialect != "sqlite":
            return True
        async with self.writer.connect() as connection:
            # On the driver: in a transaction, as SQLAlchemy would begin one, SQLite refuses.
            raw: Any = (await connection.get_raw_connection()).driver_connection
            await raw.execute("PRAGMA busy_timeout=1000")
            try:
                [(busy, *_)] = await raw.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:  # the erasure committed; this only tidies after it
                busy = 1
            finally:
                await raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return not busy

    async def answers(self) -> bool:
        """Whether the database takes a statement at all (down, unreachable: it does not)."""
        try:
            async with self.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def dialect_insert(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT with ``on_conflict_do_nothing/update`` for ``dialect`` ("sqlite", "postgresql")."""
    return sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)


def _sqlite_setup(engine: AsyncEngine, settings: Settings, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so BEGIN is ours (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(settings.sqlite_wal_autocheckpoint)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
