"""A lookup's connection (``Database.lookup``) is the driver's own, lent outside SQLAlchemy's
pool: it reads what is committed, cannot write, survives a connection the server dropped, and
a connection whose read was interrupted is not lent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, insert, select

from parlay.lib.db.direct import DirectSelect
from parlay.lib.db.engine import Database
from tests.lib.probe_tables import database_with

pytestmark = pytest.mark.anyio

_META = MetaData()
_T = Table("bare_lookup_probe", _META, Column("id", Integer, primary_key=True))
_IDS = DirectSelect(select(_T.c.id).where(_T.c.id >= bindparam("least")).order_by(_T.c.id))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with database_with(database_url, _T, [{"id": 1}, {"id": 2}]) as database:
        yield database


async def _ids(db: Database) -> list[Any]:
    async with db.lookup() as connection:
        return [row[0] for row in await _IDS.rows(connection, {"least": 0})]


async def test_a_lookup_reads_each_commit_as_it_lands(db: Database) -> None:
    async with db.lookup() as connection:
        assert [r[0] for r in await _IDS.rows(connection, {"least": 0})] == [1, 2]
        async with db.write() as session:
            await session.execute(insert(_T), [{"id": 3}])
        assert [r[0] for r in await _IDS.rows(connection, {"least": 2})] == [2, 3]


async def test_a_lookup_cannot_write(db: Database) -> None:
    async with db.lookup() as connection:
        with pytest.raises(Exception, match=r"readonly|read-only"):
            await connection.fetch("INSERT INTO bare_lookup_probe (id) VALUES (9)", [])
    assert await _ids(db) == [1, 2]


async def test_a_connection_the_server_dropped_is_replaced_and_the_read_answers(
    postgres_database: str,
) -> None:
    db = Database(postgres_database, pool_size=1)
    admin = await asyncpg.connect(postgres_database)
    try:
        for lent in (False, True):  # dropped while idle in the pool, then while lent
            async with db.lookup() as connection:
                pid = (await connection.fetch("SELECT pg_backend_pid()", []))[0][0]
                if lent:
                    await _drop(admin, pid)
                    assert (await connection.fetch("SELECT pg_backend_pid()", []))[0][0] != pid
            if not lent:
                await _drop(admin, pid)
        async with db.lookup() as connection:
            assert (await connection.fetch("SELECT 1", [])) == [(1,)]
    finally:
        await admin.close()
        await db.dispose()


async def _drop(admin: asyncpg.Connection, pid: int) -> None:
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    await asyncio.sleep(0.1)  # the server's close reaches the client


async def test_a_connection_whose_read_was_interrupted_is_not_lent_again(db: Database) -> None:
    slow = "SELECT pg_sleep(5)" if not db.is_sqlite else _SQLITE_SLOW
    async with db.lookup() as connection:
        first = connection._driver
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await connection.fetch(slow, [])
    async with db.lookup() as connection:
        assert connection._driver is not first
        assert [r[0] for r in await _IDS.rows(connection, {"least": 0})] == [1, 2]


# Counts to fifty million in SQL: about a second or more here, long past the 0.2-s deadline.
_SQLITE_SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) "
    "SELECT count(*) FROM n"
)
