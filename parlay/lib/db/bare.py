"""Lookups on driver connections of their own, outside SQLAlchemy's pool.

A lookup (``Database.lookup``) reads statement by statement with no transaction and never
writes: the API key of a request, an eligibility check's facts, an idle dispatcher's look at
its queue. Its statements go straight to the driver already (``direct.DirectSelect``); what was
left of SQLAlchemy around them was the connection's checkout and return: its pool, its
connection wrapper, its events (the checkout ping on PostgreSQL: a round trip), and the rollback
it sends when a connection comes back (on SQLite a trip to aiosqlite's thread): 0.19 ms of CPU
per lookup on SQLite and 0.28 ms on PostgreSQL, and an eligibility check takes two. Figures in
docs/architecture.md ("Lookups on connections of their own").

This pool lends a driver connection (asyncpg's with ``default_transaction_read_only``, or
aiosqlite's with ``PRAGMA query_only``: neither can write) as a
``BareConnection`` and takes it back as it is: there is nothing to roll back. Instead of a ping,
a statement whose connection turns out to be gone (the server restarted or dropped it) is run
once more on a new connection, which a read may; a connection whose statement was interrupted
(its request cancelled mid-read) is closed instead of coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy.engine import URL, Dialect

from parlay.lib.db import sqlite_cursor

# Errors that may mean the connection, not the statement, failed (asyncpg raises the first two
# when the server closed it, an OS error when the socket broke); it is gone if it says closed.
_GONE = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, OSError)
_SQLITE_PRAGMAS = (
    "PRAGMA query_only=ON",
    "PRAGMA busy_timeout=15000",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
)


async def _decode_json_as_sqlalchemy_does(connection: asyncpg.Connection) -> None:
    """JSON and JSONB decoded by the driver, as SQLAlchemy's asyncpg dialect sets its own
    connections up (its JSON types then have no result processor for ``DirectSelect`` to
    apply); values are bound as the JSON text SQLAlchemy's bind processors make."""
    await connection.set_type_codec(
        "json", encoder=str.encode, decoder=_json, schema="pg_catalog", format="binary"
    )
    await connection.set_type_codec(
        "jsonb", encoder=_jsonb_text, decoder=_jsonb, schema="pg_catalog", format="binary"
    )


def _json(value: bytes) -> Any:
    return json.loads(value.decode())


def _jsonb(value: bytes) -> Any:
    return json.loads(value[1:].decode())  # after JSONB's version byte


def _jsonb_text(text: str) -> bytes:
    return b"\x01" + text.encode()


def _prepare_sqlite(connection: sqlite3.Connection) -> None:
    for pragma in _SQLITE_PRAGMAS:
        connection.execute(pragma).close()


class BareConnection:
    """A driver connection lent for one lookup: ``fetch`` runs a statement on it."""

    __slots__ = ("_busy", "_driver", "_pool", "dialect")

    def __init__(self, pool: BarePool, driver: Any) -> None:
        self.dialect = pool.dialect
        self._pool = pool
        self._driver = driver
        self._busy = False

    async def fetch(self, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        """The rows of ``sql`` (in the driver's own parameter style) with ``args``."""
        # Left set if the read is interrupted (cancelled): the connection is then closed, not
        # lent again mid-statement.
        self._busy = True
        try:
            rows = await self._pool.run(self._driver, sql, args)
        except _GONE:
            if not self._pool.is_gone(self._driver):
                self._busy = False
                raise
            await self._pool.discard(self._driver)
            self._driver = await self._pool.open()
            rows = await self._pool.run(self._driver, sql, args)
        except Exception:
            self._busy = False
            raise
        self._busy = False
        return rows


class BarePool:
    """Up to ``size`` driver connections for lookups, opened when first needed; a lookup past
    ``size`` waits for one to come back."""

    def __init__(self, url: URL, dialect: Dialect, size: int) -> None:
        self.dialect = dialect
        self._postgres = dialect.name == "postgresql"
        self._args, self._kwargs = dialect.create_connect_args(url)
        if self._postgres:
            # Each statement its own read-only transaction: a lookup that wrote would fail.
            settings = {"default_transaction_read_only": "on"}
            self._kwargs = {**self._kwargs, "server_settings": settings}
        else:
            self._kwargs = {**self._kwargs, "timeout": 15, "isolation_level": None}
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[BareConnection]:
        async with self._slots:
            driver = self._idle.pop() if self._idle else None
            if driver is None or self.is_gone(driver):
                if driver is not None:
                    await self.discard(driver)
                driver = await self.open()
            lent = BareConnection(self, driver)
            try:
                yield lent
            finally:
                if lent._busy or self._closed:
                    await self.discard(lent._driver)
                else:
                    self._idle.append(lent._driver)

    async def open(self) -> Any:
        if self._postgres:
            server = await asyncpg.connect(*self._args, **self._kwargs)
            await _decode_json_as_sqlalchemy_does(server)
            return server
        local: Any = await aiosqlite.connect(*self._args, **self._kwargs)
        await local._execute(_prepare_sqlite, local._conn)
        return local

    async def run(self, driver: Any, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        if self._postgres:
            rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *args)
            return rows
        outcome = await driver._execute(sqlite_cursor._run, driver._conn, sql, args, False)
        return outcome[1] or []

    def is_gone(self, driver: Any) -> bool:
        return bool(driver.is_closed()) if self._postgres else driver._connection is None

    async def discard(self, driver: Any) -> None:
        """Close ``driver`` now, a statement still running on it stopped."""
        with contextlib.suppress(Exception):
            if self._postgres:
                driver.terminate()
            elif not self.is_gone(driver):
                driver._connection.interrupt()  # sqlite3 allows it from any thread
                await driver.close()

    async def close(self) -> None:
        """Close every idle connection; those lent out close as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for driver in idle:
            with contextlib.suppress(Exception):
                await (driver.close(timeout=2) if self._postgres else driver.close())
