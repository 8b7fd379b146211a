"""Hot reads straight to the driver: a Core ``SELECT`` compiled once per dialect, its rows read
by asyncpg or sqlite3 directly, inside the session's unit of work.

SQLAlchemy's execution of an already compiled statement (its cache key, execution context,
cursor wrapper and result object) costs ~0.2 ms of CPU per statement on PostgreSQL, where
asyncpg itself takes ~0.09 ms: an eligibility check reads six times, a dispatcher's batch four.
A ``DirectSelect`` keeps what the statement means (its SQL, built from the same tables with
SQLAlchemy) and SQLAlchemy's own type conversions (each bound value and each column through the
type's processors for the dialect), and drops the rest. Figures in docs/architecture.md
("Reads straight to the driver").

The statement runs on the connection the session holds, so it sees what the unit of work
wrote; on PostgreSQL a transaction SQLAlchemy has not begun at the driver yet is begun first
(``bulk.driver_in_transaction``), except in an autocommit session, which has none. A lookup's
connection (``bare.BareConnection``) is the driver's own, with no transaction.

Writes the same way (``DirectWrite``, with ``driver_savepoint`` around them), only where a
write runs on every request: an eligibility check's identity links and its call. What the
session must know of (ORM objects, its own savepoints) goes through the session.

Lists (``lists.among``): one array parameter on PostgreSQL; on SQLite an expanding ``IN``,
whose placeholders are written here for each list length seen (SQLite's planner uses the
column's index for an ``IN`` list, in an ``OR`` too, which it does not do for ``json_each``
without statistics).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import UpdateBase

from parlay.lib.db import sqlite_cursor
from parlay.lib.db.bare import BareConnection
from parlay.lib.db.bulk import driver_in_transaction

Processor = Callable[[Any], Any]
# Where a direct read runs: a unit of work's session (inside its transaction), or a lookup's
# own driver connection (``Database.lookup``).
Reader = AsyncSession | BareConnection
_MAX_SHAPES = 256  # SQLite texts kept per statement, one per combination of list lengths


@dataclass
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bound parameters in the order the SQL takes them
    binds: tuple[Processor | None, ...]
    expanding: tuple[bool, ...]
    converts: tuple[tuple[int, Processor], ...]  # the columns to convert, by position
    fixed: dict[str, Any]  # the values written in the statement (``state == "OPEN"``)
    by_lengths: dict[tuple[int, ...], str] = field(default_factory=dict)

    def arguments(self, given: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL text and its positional arguments for these values."""
        params = {**self.fixed, **given} if self.fixed else given
        if not any(self.expanding):
            return self.sql, [
                params[n] if b is None else b(params[n])
                for n, b in zip(self.names, self.binds, strict=True)
            ]
        args: list[Any] = []
        lengths: list[int] = []
        for name, bind, expanding in zip(self.names, self.binds, self.expanding, strict=True):
            value = params[name]
            if expanding:
                lengths.append(len(value))
                args.extend(value if bind is None else map(bind, value))
            else:
                args.append(value if bind is None else bind(value))
        key = tuple(lengths)
        sql = self.by_lengths.get(key)
        if sql is None:
            sql = self.sql
            for name, expanding in zip(self.names, self.expanding, strict=True):
                if expanding:
                    n = lengths.pop(0)
                    # An empty list matches nothing, as SQLAlchemy renders it.
                    marks = ", ".join("?" * n) if n else "SELECT 1 WHERE 1 != 1"
                    sql = sql.replace(f"__[POSTCOMPILE_{name}]", marks)
            if len(self.by_lengths) >= _MAX_SHAPES:
                self.by_lengths.clear()
            self.by_lengths[key] = sql
        return sql, args


def _compile(statement: Select[*tuple[Any, ...]] | UpdateBase, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    expanding = tuple(compiled.binds[name].expanding for name in names)
    if dialect.name != "sqlite" and any(expanding):
        raise ValueError("an expanding IN is rendered per execution here: use lists.among")
    binds = []
    for name in names:
        kind = compiled.binds[name].type.dialect_impl(dialect)
        binds.append(kind.bind_processor(dialect))
    columns = statement.selected_columns if isinstance(statement, Select) else ()
    results = (
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    converts = tuple((i, p) for i, p in enumerate(results) if p is not None)
    fixed = {
        name: compiled.binds[name].effective_value
        for name in names
        if not compiled.binds[name].required
    }
    return _Compiled(
        compiled.string,
        names,
        tuple(binds),
        expanding,
        converts,
        fixed,
    )


async def is_postgres(reader: Reader) -> bool:
    if isinstance(reader, BareConnection):
        return reader.dialect.name == "postgresql"
    return (await reader.connection()).dialect.name == "postgresql"


class _Prepared:
    """A statement and its compiled form for each dialect it has run on."""

    def __init__(self, statement: Select[*tuple[Any, ...]] | UpdateBase) -> None:
        self._statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _compile(self._statement, dialect)
        return compiled


class DirectSelect(_Prepared):
    """``rows(reader, params)`` of one ``SELECT``: build it once (a module constant or a
    cached function), bind values at execution with ``bindparam(name)``."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        super().__init__(statement)
        self.statement = statement

    async def rows(self, reader: Reader, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        if isinstance(reader, BareConnection):
            compiled = self._compiled(reader.dialect)
            sql, args = compiled.arguments(params)
            return self._converted(await reader.fetch(sql, args), compiled)
        connection = await reader.connection()
        dialect = connection.dialect
        compiled = self._compiled(dialect)
        sql, args = compiled.arguments(params)
        raw = await connection.get_raw_connection()
        found: Sequence[Sequence[Any]]
        if dialect.name == "postgresql":
            driver: Any = raw.driver_connection
            adapted: Any = raw.dbapi_connection
            if not driver.is_in_transaction() and not adapted.autocommit:
                driver = await driver_in_transaction(connection)
            found = await driver.fetch(sql, *args)
        else:
            found = await sqlite_cursor.fetch_rows(raw.dbapi_connection, sql, args)
        return self._converted(found, compiled)

    @staticmethod
    def _converted(found: Sequence[Sequence[Any]], compiled: _Compiled) -> list[Sequence[Any]]:
        if not compiled.converts:
            return list(found)
        return [_converted(row, compiled.converts) for row in found]


class DirectWrite(_Prepared):
    """``run(session, params)`` of one ``INSERT``, ``UPDATE`` or ``DELETE`` (no ``RETURNING``)
    straight to the driver, inside the session's write transaction: the number of rows it
    changed; ``run_many`` for one row of values each. A constraint it violates raises
    SQLAlchemy's ``IntegrityError``, as the session's own execution would (a savepoint around
    it is rolled back the same way)."""

    async def run(self, session: AsyncSession, params: Mapping[str, Any]) -> int:
        connection = await session.connection()
        sql, args = self._compiled(connection.dialect).arguments(params)
        return await _write(connection, sql, args, many=False)

    async def run_many(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        connection = await session.connection()
        compiled = self._compiled(connection.dialect)
        if any(compiled.expanding):
            raise ValueError("run_many takes no lists")
        await _write(connection, compiled.sql, [compiled.arguments(r)[1] for r in rows], many=True)


@contextlib.asynccontextmanager
async def driver_savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A savepoint sent straight to the driver, around ``DirectWrite`` statements only (the
    session knows nothing of it, so nothing written through the session may run inside):
    released when the block ends, rolled back to if it raises. SQLAlchemy's ``begin_nested``
    and its release cost ~0.04-0.15 ms of CPU more per transaction on PostgreSQL (in-process,
    3,000 write transactions of one update, five rounds each: 1,104-1,338 against 1,062-1,175
    µs per transaction)."""
    connection = await session.connection()
    await _write(connection, "SAVEPOINT parlay_direct", [], many=False)
    try:
        yield
    except Exception:
        await _write(connection, "ROLLBACK TO SAVEPOINT parlay_direct", [], many=False)
        raise
    await _write(connection, "RELEASE SAVEPOINT parlay_direct", [], many=False)


async def _write(connection: AsyncConnection, sql: str, args: Any, *, many: bool) -> int:
    try:
        if connection.dialect.name == "postgresql":
            driver = await driver_in_transaction(connection)
            if many:
                await driver.executemany(sql, args)
                return len(args)
            return _rowcount(await driver.execute(sql, *args))
        raw = await connection.get_raw_connection()
        return await sqlite_cursor.run_write(raw.dbapi_connection, sql, args, many=many)
    except (asyncpg.IntegrityConstraintViolationError, sqlite3.IntegrityError) as error:
        raise IntegrityError(sql, None, error) from error


def _rowcount(status: str) -> int:
    """The rows an asyncpg command status names: ``UPDATE 3``, ``INSERT 0 1``, ``DELETE 0``."""
    count = status.rsplit(" ", 1)[-1]
    return int(count) if count.isdigit() else 0


def _converted(row: Sequence[Any], converts: tuple[tuple[int, Processor], ...]) -> list[Any]:
    values = list(row)
    for i, process in converts:
        values[i] = process(values[i])
    return values
