"""The few statements every ingested event pays, run on the database driver itself.

SQLAlchemy's execution layer (statement cache lookup, bind and result processors, the greenlet
bridge, a driver call per cursor step) costs about 200 µs a statement here, against 45 µs for the
same primary-key read on aiosqlite directly (bench/README.md). That is fine for most of the
platform, but it was most of the cost of storing an event. So the repositories run their hottest
statements (``identity.repository.identities_by_key`` and ``touch_identities``, the event
status update, and every ``kit.bulk`` insert) through a ``DriverConnection``: the driver
connection (aiosqlite or asyncpg) under the caller's session, in the caller's transaction.

The SQL of such a statement is written per backend by its repository (placeholders and arrays
differ). This module converts values as the ORM types do (``kit.orm.UTCDateTime``, ``JSONType``),
so a row written here reads back the same through SQLAlchemy, and the other way round; and its
errors as SQLAlchemy's adapter does (a ``DBAPIError`` with the SQLSTATE), so a deadlock here is a
lost race and a full disk a 503, as anywhere else. Raised as the driver's own, they were neither:
callers got a dropped connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession


class DriverConnection:
    def __init__(self, dialect: str, raw: Any, adapter: Any = None, dbapi: Any = None) -> None:
        self.sqlite = dialect == "sqlite"
        self.raw = raw  # aiosqlite.Connection or asyncpg.Connection
        # SQLAlchemy's adapter of that connection and its DB-API module: they translate errors.
        self.adapter, self.dbapi = adapter, dbapi

    @classmethod
    async def of(cls, session: AsyncSession, *, writes: bool) -> DriverConnection:
        """The driver connection of ``session``; inside the session's transaction if ``writes``."""
        connection = await session.connection()
        pooled = await connection.get_raw_connection()
        raw: Any = pooled.driver_connection
        dialect = connection.dialect.name
        # SQLite's BEGIN was sent when the session took its connection (kit.db, on_begin). The
        # asyncpg adapter sends BEGIN with the first statement it runs itself; before that, a
        # statement on the driver runs on its own. A read may (each statement of a READ
        # COMMITTED transaction sees its own snapshot anyway); a write must not, so let the
        # adapter begin first.
        if writes and dialect != "sqlite" and not raw.is_in_transaction():
            await connection.exec_driver_sql("SELECT 1")
        return cls(dialect, raw, pooled.dbapi_connection, connection.dialect.dbapi)

    def time(self, moment: datetime) -> Any:
        """A timezone-aware time as a parameter: what ``UTCDateTime`` binds."""
        utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
        if self.sqlite:
            # SQLAlchemy's SQLite DATETIME text: always six fractional digits, so times compare
            # correctly as text.
            return utc.replace(tzinfo=None).isoformat(" ", "microseconds")
        return utc

    def read_time(self, value: Any) -> datetime:
        """A time read from a row, timezone-aware UTC."""
        if self.sqlite:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment: datetime = value
        return moment.astimezone(UTC)

    @staticmethod
    def json(value: Any) -> str:
        """A JSON document as a parameter (the same serializer as ``kit.db``'s engines)."""
        return orjson.dumps(value).decode()

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        try:
            if self.sqlite:
                return list(await self.raw.execute_fetchall(sql, params))
            return list(await self.raw.fetch(sql, *params))
        except Exception as exc:
            raise self._translated(exc, sql) from exc

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self.raw.executemany(sql, rows)
        except Exception as exc:
            raise self._translated(exc, sql) from exc

    def _translated(self, exc: Exception, sql: str) -> Exception:
        """The driver's error as SQLAlchemy raises it for a statement of its own (its parameters
        left out: customers' data, in logs)."""
        if self.adapter is None:
            return exc
        try:
            self.adapter._handle_exception(exc)  # raises the DB-API error for the driver's
        except Exception as adapted:
            if isinstance(adapted, self.dbapi.Error):
                wrapped: Exception = DBAPIError.instance(
                    sql, None, adapted, self.dbapi.Error, hide_parameters=True
                )
                return wrapped
            return adapted
        return exc


def sqlite_rows(count: int, width: int) -> str:
    """``(?, ?), (?, ?)…``: the placeholders of ``count`` rows of ``width`` values (SQLite); one
    row is also an ``IN`` list."""
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * count)
