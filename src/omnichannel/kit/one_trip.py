"""SQLite reads in one trip to the driver's thread per statement, not four.

aiosqlite runs every call on the connection's own thread, and each call is a round trip: the
event loop queues it, the thread wakes, runs it, and wakes the loop with the answer. Through
SQLAlchemy a statement is four of them (make a cursor, execute, fetch, close). On this VM a trip
measured 80 to 260 µs, so a profile read of seven statements spent ~9 ms of its ~10 ms waiting on
them, with a tiny database (bench/README.md). Here the cursor is made on the loop's thread
(it touches no database), ``execute`` runs the statement and reads all its rows in one trip,
``fetchall`` hands the rows over, and ``close`` needs no trip either.

Only the read engine uses it (``kit.db``). On the writer the same change was measured to lose:
shorter write transactions made ingestion's group commits smaller (bench/README.md, "tried,
not kept"). Hand-written on aiosqlite's own classes because neither aiosqlite nor SQLAlchemy
has such a mode; it plugs in through SQLAlchemy's public ``do_connect`` event. It leans on
aiosqlite's ``Connection._execute`` and ``_conn`` (version pinned in the lock file; the tests
in ``tests/kit/test_db.py`` run every read through it).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable
from functools import partial
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


def _run(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> list[Any]:
    """On the connection's thread: the statement and all its rows."""
    cursor.execute(sql, parameters)
    return cursor.fetchall() if cursor.description is not None else []


class OneTripCursor(aiosqlite.Cursor):
    """Every row is read with the statement; the fetches, streamed ones too, hand them over."""

    _rows: deque[Any]

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        rows = await self._execute(_run, self._cursor, sql, parameters or ())  # type: ignore[no-untyped-call]
        self._rows = deque(rows)
        return self

    async def fetchone(self) -> Any | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(size or self._cursor.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        # Here, not on the connection's thread: every row was read, so the statement is done and
        # closing touches no database (see ``OneTripConnection.cursor``).
        self._cursor.close()


class OneTripConnection(aiosqlite.Connection):
    @contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        # Made on the loop's thread, hence ``check_same_thread=False`` below: one connection is
        # only ever used by one session at a time, so the two threads never use it at once.
        return OneTripCursor(self, self._conn.cursor())


def use_one_trip_cursors(engine: AsyncEngine) -> None:
    """Make the engine's new connections ``OneTripConnection``s (SQLite, aiosqlite)."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        def create(*args: Any, **kwargs: Any) -> OneTripConnection:
            kwargs["check_same_thread"] = False
            connection = OneTripConnection(partial(sqlite3.connect, *args, **kwargs), 64)
            connection._thread.daemon = True  # as SQLAlchemy's own connect does
            return connection

        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=create, **cparams)
