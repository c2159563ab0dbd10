"""Many rows in one statement: the inserts and upserts every processed event pays.

An ``executemany`` runs its statement once per row. On PostgreSQL every row is then its own Bind
and Execute, with an executor start-up each, and through SQLAlchemy its own parameter processing
too: for the worker's writes (traits, search terms, identifiers) that was most of PostgreSQL's
CPU per event (bench/README.md). ``BulkInsert`` writes any number of rows with one statement:

* PostgreSQL: one array per column, spread back into rows by ``unnest``, so one prepared
  statement serves every count;
* SQLite: one single-row statement run by the driver's ``executemany``, a loop in C over one
  compiled statement (10 to 20 % faster than a multi-row ``VALUES`` list, which is compiled anew
  for every row count); a multi-row list, chunked under the bound-parameter limit, only when the
  tail has a ``RETURNING`` to read.

The SQL is made from the table's metadata, so column order and types come from the model; a
``tail`` adds ``ON CONFLICT …`` or ``RETURNING …``, which both backends spell alike. Values are
converted as the ORM types convert them (``kit.driver``), so rows read back the same through
SQLAlchemy. Statements run on the driver connection, in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from omnichannel.kit.driver import DriverConnection, sqlite_rows
from omnichannel.kit.repository import chunked

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(table: Table, name: str) -> str:
    """The column's PostgreSQL type, as an array element: no collation (that is the column's)
    and no length, since a cast to ``VARCHAR(n)`` cuts a longer text silently, where the insert
    itself refuses it (and SQLite keeps it whole). Lengths are for validation to enforce."""
    declared = str(table.c[name].type.compile(dialect=_PG)).split(" COLLATE")[0]
    return re.sub(r"\(\d+\)", "", declared)


class BulkInsert:
    def __init__(self, table: Table, names: Sequence[str] = (), tail: str = "") -> None:
        """Rows of ``names`` (default: every column) go into ``table``; ``tail`` ends the SQL."""
        self.names = tuple(names) or tuple(c.name for c in table.c)
        types = [_pg_type(table, name) for name in self.names]
        columns = ", ".join(self.names)
        # JSON goes as text and is parsed by the cast: no per-connection codec needed.
        arrays = ", ".join(
            f"${n}::{'text' if t == 'JSONB' else t}[]" for n, t in enumerate(types, start=1)
        )
        picks = ", ".join(
            f"{name}::jsonb" if t == "JSONB" else name
            for name, t in zip(self.names, types, strict=True)
        )
        self._pg = (
            f"INSERT INTO {table.name} ({columns}) SELECT {picks} "
            f"FROM unnest({arrays}) AS x({columns}) {tail}"
        )
        self._sqlite = f"INSERT INTO {table.name} ({columns}) VALUES {{}} {tail}"
        self._sqlite_one = self._sqlite.format(sqlite_rows(1, len(self.names)))
        self._returns = "RETURNING" in tail.upper()
        self._chunk = 30_000 // len(self.names)  # SQLite allows 32,766 parameters a statement
        self._converts = [(t.startswith("TIMESTAMP"), t == "JSONB") for t in types]

    def _converters(self, driver: DriverConnection) -> list[Callable[[Any], Any] | None]:
        last: list[Any] = [None, None]  # (time, converted): a call's events share received_at

        def timed(value: Any) -> Any:
            if value is None:
                return None
            if value is not last[0]:
                last[:] = value, driver.time(value)
            return last[1]

        return [
            timed if is_time else driver.json if is_json else None
            for is_time, is_json in self._converts
        ]

    async def run(
        self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]
    ) -> list[Sequence[Any]]:
        """Insert ``rows`` (each a mapping with every one of the names); returns what the tail's
        ``RETURNING`` gives, if any."""
        if not rows:
            return []
        driver = await DriverConnection.of(session, writes=True)
        converters = self._converters(driver)
        columns = [
            [row[name] for row in rows] if convert is None else [convert(row[name]) for row in rows]
            for name, convert in zip(self.names, converters, strict=True)
        ]
        if not driver.sqlite:
            return await driver.fetch(self._pg, columns)
        values = list(zip(*columns, strict=True))
        if not self._returns:
            # Nothing to read back: one statement, compiled once and cached by the driver, run
            # for every row in C. (A statement of many rows is compiled anew for every count.)
            await driver.execute_many(self._sqlite_one, values)
            return []
        returned: list[Sequence[Any]] = []
        for chunk in chunked(values, self._chunk):
            sql = self._sqlite.format(sqlite_rows(len(chunk), len(self.names)))
            returned += await driver.fetch(sql, [v for row in chunk for v in row])
        return returned
