"""SQLite statements in one trip to aiosqlite's thread instead of four.

aiosqlite runs each call on the sqlite3 connection in its own thread, and SQLAlchemy's adapter
makes four such calls per statement: open a cursor, execute, fetch the rows, close the cursor.
Each is a hand-over to the thread and back (a queue, a wake-up, the GIL, a callback on the event
loop), and under load those hand-overs cost more than the statements: the eligibility check's
~10 statements were ~40 of them. ``OneTripCursor`` does the four steps in one function on the
thread and keeps what the statement left (its rows, description, row count and last row ID),
so the event loop waits once per statement. Figures in docs/architecture.md ("Hand-written
where a library exists").

It relies on aiosqlite's ``Connection._execute`` (run a function on its thread) and ``_conn``
(the sqlite3 connection there), and on SQLAlchemy's adapter cursor (``_rows`` and the fetch
methods that read it): both are pinned in requirements.lock, and every SQLite test runs through
this cursor. Server-side cursors (``stream_results``), which Parlay does not use, keep
SQLAlchemy's own class.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any] | None, int, int | None]
_T = TypeVar("_T")


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On aiosqlite's thread: the statement, its rows, and what it left on the cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, each statement one trip to the connection's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor is opened here (that was a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before any insert

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor was closed on the thread, its rows kept."""

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            await_(self._trip(operation, parameters, many=False))
        except Exception as error:  # noqa: BLE001 - translated to the DBAPI's errors
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            await_(self._trip(operation, seq_of_parameters, many=True))
        except Exception as error:  # noqa: BLE001 - translated to the DBAPI's errors
            self._adapt_connection._handle_exception(error)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(
                _run,
                connection._conn,
                operation,
                parameters,
                many,
            )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()


async def fetch_rows(adapted: Any, operation: str, parameters: Sequence[Any]) -> list[Any]:
    """The rows of one statement run on an adapted aiosqlite connection, in one trip to its
    thread (``direct.DirectSelect``)."""
    connection = adapted._connection
    async with adapted._execute_mutex:
        outcome: _Outcome = await connection._execute(
            _run, connection._conn, operation, parameters, False
        )
    return outcome[1] or []


async def run_write(adapted: Any, operation: str, parameters: Any, *, many: bool) -> int:
    """One write statement (or one per row of ``parameters`` with ``many``) on an adapted
    aiosqlite connection, in one trip to its thread; the rows it changed
    (``direct.DirectWrite``)."""
    connection = adapted._connection
    async with adapted._execute_mutex:
        outcome: _Outcome = await connection._execute(
            _run, connection._conn, operation, parameters, many
        )
    return outcome[2]


async def on_thread(driver: Any, work: Callable[..., _T], *args: Any) -> _T:
    """``work(sqlite3_connection, *args)`` on the thread of ``driver`` (an aiosqlite
    connection): several statements of one transaction in one trip."""
    result: _T = await driver._execute(work, driver._conn, *args)
    return result


def install() -> None:
    """Every aiosqlite connection SQLAlchemy opens from now on uses ``OneTripCursor``."""
    AsyncAdapt_aiosqlite_connection._cursor_cls = OneTripCursor
