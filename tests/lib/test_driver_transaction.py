"""Writes sent straight to the driver belong to the unit of work's transaction, even as its first
statement: rolled back with it (on PostgreSQL SQLAlchemy's adapter sends BEGIN only with its own
first statement, so a driver write before that used to commit at once)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, text

from parlay.lib.db.bulk import driver_in_transaction, insert_rows
from parlay.lib.db.engine import Database

pytestmark = pytest.mark.anyio

_T = Table("driver_tx_probe", MetaData(), Column("id", Integer, primary_key=True))


class Boom(Exception):
    pass


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=1)
    async with database.write() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS driver_tx_probe (id INTEGER)"))
        await session.execute(text("DELETE FROM driver_tx_probe"))
    yield database
    async with database.write() as session:
        await session.execute(text("DROP TABLE driver_tx_probe"))
    await database.dispose()


async def _rows(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(text("SELECT count(*) FROM driver_tx_probe")) or 0)


async def _bulk_insert_then_fail(db: Database) -> None:
    async with db.write() as session:
        await insert_rows(session, _T, ["id"], [(1,), (2,)])
        raise Boom


async def _driver_insert_then_fail(db: Database) -> None:
    async with db.write() as session:
        driver = await driver_in_transaction(await session.connection())
        if db.is_sqlite:
            await (await driver.execute("INSERT INTO driver_tx_probe VALUES (1)")).close()
        else:
            await driver.execute("INSERT INTO driver_tx_probe VALUES (1)")
        raise Boom


async def test_a_bulk_insert_first_in_a_failed_unit_is_rolled_back(db: Database) -> None:
    with pytest.raises(Boom):
        await _bulk_insert_then_fail(db)
    assert await _rows(db) == 0


async def test_a_driver_statement_first_in_a_failed_unit_is_rolled_back(db: Database) -> None:
    with pytest.raises(Boom):
        await _driver_insert_then_fail(db)
    assert await _rows(db) == 0
