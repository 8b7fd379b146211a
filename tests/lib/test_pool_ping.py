"""PostgreSQL's pool: a connection idle for a while is checked before it is handed out, so a
connection the server dropped meanwhile (a restart, a proxy's idle timeout) costs no request; a
connection used moments ago is handed out without a round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from parlay.lib.db import engine as db_engine
from parlay.lib.db.engine import Database

pytestmark = pytest.mark.anyio


async def _backend_pid(db: Database) -> int:
    async with db.read() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def _terminate(db: Database, pid: int) -> None:
    async with db.read() as session:
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_database, pool_size=1)
    killer = Database(postgres_database, pool_size=1)
    try:
        first = await _backend_pid(db)
        await _terminate(killer, first)
        monkeypatch.setattr(db_engine, "IDLE_PING_SECONDS", 0.0)  # every connection is "idle"
        assert await _backend_pid(db) != first  # answered, on a new connection
    finally:
        await db.dispose()
        await killer.dispose()


async def test_a_connection_used_moments_ago_is_not_pinged(postgres_database: str) -> None:
    db = Database(postgres_database, pool_size=1)
    killer = Database(postgres_database, pool_size=1)
    try:
        first = await _backend_pid(db)
        await _terminate(killer, first)
        # No ping: the dropped connection is handed out and its statement fails; SQLAlchemy then
        # retires it, and the next unit of work gets a new one.
        with pytest.raises(Exception, match="connection"):
            await _backend_pid(db)
        assert await _backend_pid(db) != first
    finally:
        await db.dispose()
        await killer.dispose()
