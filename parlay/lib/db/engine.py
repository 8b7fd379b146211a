"""Engine factory: one place that knows SQLite and PostgreSQL apart.

SQLite: WAL, busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for every write transaction:
pysqlite opens transactions lazily, so a read-then-write is not atomic without it (updates are
silently lost). Writers in one process also queue on an asyncio lock
so they wait in order instead of spinning in SQLite's busy handler; an urgent writer (an IVR
caller is waiting) goes ahead of every background writer still waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_

from parlay.lib.db import sqlite_cursor
from parlay.lib.db.bare import BareConnection, BarePool

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_SQLITE_MODE = "parlay_sqlite_begin"


def to_async_url(url: str) -> URL:
    """``sqlite:///x.db`` or ``postgresql://...`` (any driver) → the async driver Parlay uses."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:// or postgresql://")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend])


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sqlite_cursor.install()
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; the "begin" hook below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA busy_timeout=15000",
            "PRAGMA foreign_keys=ON",
            "PRAGMA cache_size=-65536",
            "PRAGMA temp_store=MEMORY",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_SQLITE_MODE, "IMMEDIATE")
        if mode is not None:  # None: a lookup, each statement on its own
            conn.exec_driver_sql(f"BEGIN {mode}")


def _install_postgres_ping(engine: AsyncEngine) -> None:
    """Every connection is checked as it leaves the pool, in one round trip: a ``SELECT 1`` sent
    straight to asyncpg. A connection that fails it (the server restarted or dropped it, or
    asyncpg's "another operation is in progress" after an interrupted use) is thrown away and
    the pool hands out a fresh one. SQLAlchemy's own ``pool_pre_ping`` wraps its ping in
    ``BEGIN``/``ROLLBACK`` (three round trips, ~0.37 ms a checkout here; this one ~0.1 ms) and
    does not count that asyncpg error as a lost connection."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        try:
            await_(dbapi_connection.driver_connection.execute("SELECT 1"))
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection failed its ping: {exc!r}") from exc


class WriteLock:
    """An asyncio lock with two queues: urgent waiters are served before any other waiter
    (each queue in arrival order). The holder is never interrupted."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._others:
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._others
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the lock just as it was cancelled: pass it on
            else:
                queue.remove(waiter)
            raise

    def _release(self) -> None:
        for queue in (self._urgent, self._others):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the lock passes to it, still held
                    return
        self._held = False


class Database:
    """The engine plus the two ways to open a unit of work: ``write()`` and ``read()``."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = to_async_url(url)
        self.dialect = self.url.get_backend_name()
        # Parameters carry consumers' numbers and IDs: keep them out of error logs.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.dialect == "sqlite":
            database = self.url.database or ""
            if database in ("", ":memory:"):
                raise ValueError("an in-memory SQLite database cannot be shared: give a file path")
            kwargs["pool_size"] = pool_size
            kwargs["connect_args"] = {"timeout": 15}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _install_sqlite_hooks(self.engine)
            reader = self.engine.execution_options(**{_SQLITE_MODE: "DEFERRED"})
            looker = self.engine.execution_options(**{_SQLITE_MODE: None})
        else:
            _install_postgres_ping(self.engine)
            reader = self.engine
            looker = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._writer_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reader_sessions = async_sessionmaker(reader, expire_on_commit=False)
        self._bare = BarePool(self.engine.url, self.engine.dialect, pool_size)
        self._lookup_sessions = async_sessionmaker(looker, expire_on_commit=False)
        self._sqlite_write_lock = WriteLock() if self.dialect == "sqlite" else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back if it raises.
        ``urgent`` (SQLite): it takes the one writer before background writers still waiting."""
        if self._sqlite_write_lock is not None:
            async with (
                self._sqlite_write_lock.hold(urgent=urgent),
                self._writer_sessions.begin() as session,
            ):
                yield session
        else:
            async with self._writer_sessions.begin() as session:
                yield session

    @asynccontextmanager
    async def read(self, *, snapshot: bool = True) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work (never takes SQLite's write lock). ``snapshot``: in one
        transaction (on SQLite every statement sees the same data; PostgreSQL's READ COMMITTED
        gives each statement the latest committed data either way). Without it, no transaction
        is opened (no BEGIN and COMMIT: on PostgreSQL two round trips, on SQLite several hops
        through aiosqlite's thread), for lookups that read what is committed statement by
        statement; such a unit must not write (nothing would roll it back)."""
        sessions = self._reader_sessions if snapshot else self._lookup_sessions
        async with sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def lookup(self) -> AsyncIterator[BareConnection]:
        """A driver connection for reads straight to the driver (``lib/db/direct.py``), with no
        session, no transaction, and none of SQLAlchemy's pool around it (``lib/db/bare.py``).
        It cannot write (the connection is read-only)."""
        async with self._bare.connection() as connection:
            yield connection

    async def ping(self) -> None:
        """Raise unless the database answers."""
        async with self.read() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self._bare.close()
        await self.engine.dispose()
