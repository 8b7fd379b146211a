"""A read straight to the driver answers what SQLAlchemy's execution of the same statement
answers: the same rows, each value converted as the column's type converts it (aware UTC
datetimes, booleans, JSON, NULL), lists as one parameter of any length, and, inside a unit of
work, what that unit wrote before committing. A write straight to the driver is part of its
unit of work: it counts the rows it changed, stores values as SQLAlchemy would, is rolled back
with the unit, and a constraint it violates is SQLAlchemy's ``IntegrityError``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.lib.db.bare import BareConnection
from parlay.lib.db.base import JSONType, UTCDateTime
from parlay.lib.db.direct import DirectSelect, DirectWrite, driver_savepoint
from parlay.lib.db.engine import Database
from parlay.lib.db.lists import among
from tests.lib.probe_tables import database_with

pytestmark = pytest.mark.anyio

_META = MetaData()
_T = Table(
    "direct_select_probe",
    _META,
    Column("id", Integer, primary_key=True),
    Column("name", String(32)),
    Column("at", UTCDateTime, nullable=True),
    Column("flag", Boolean),
    Column("doc", JSONType, nullable=True),
)
AT = datetime(2026, 11, 30, 6, 0, 1, 250, tzinfo=UTC)
ROWS = [
    {"id": 1, "name": "one", "at": AT, "flag": True, "doc": {"a": [1, "é"]}},
    {"id": 2, "name": "two", "at": None, "flag": False, "doc": None},
    {"id": 3, "name": "three", "at": AT, "flag": False, "doc": ["x"]},
]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with database_with(database_url, _T, ROWS) as database:
        yield database


def _named(postgres: bool) -> DirectSelect:
    return DirectSelect(
        select(_T.c.id, _T.c.name, _T.c.at, _T.c.flag, _T.c.doc)
        .where(among(_T.c.name, "names", postgres), _T.c.id > bindparam("above"))
        .order_by(_T.c.id)
    )


async def test_rows_and_their_values_are_what_sqlalchemy_reads(db: Database) -> None:
    statement = _named(not db.is_sqlite)
    params = {"names": ["one", "two", "three"], "above": 0}
    async with db.read() as session:
        expected = [tuple(r) for r in await session.execute(statement.statement, params)]
        direct = [tuple(r) for r in await statement.rows(session, params)]
    async with db.lookup() as connection:
        looked_up = [tuple(r) for r in await statement.rows(connection, params)]
    assert direct == expected
    assert looked_up == expected
    assert direct[0] == (1, "one", AT, True, {"a": [1, "é"]})
    assert direct[1] == (2, "two", None, False, None)


async def test_a_list_of_any_length_is_one_parameter(db: Database) -> None:
    statement = _named(not db.is_sqlite)
    async with db.read(snapshot=False) as session:
        for names, ids in (([], []), (["two"], [2]), (["three", "one", "nobody"], [1, 3])):
            rows = await statement.rows(session, {"names": names, "above": 0})
            assert [r[0] for r in rows] == ids
        # The same length again, other values: the text kept for that length is reused.
        rows = await statement.rows(session, {"names": ["two", "one", "x"], "above": 1})
        assert [r[0] for r in rows] == [2]


async def test_inside_a_unit_of_work_it_reads_what_the_unit_wrote(db: Database) -> None:
    statement = _named(not db.is_sqlite)
    async with db.write() as session:
        await session.execute(
            insert(_T), [{"id": 4, "name": "four", "at": AT, "flag": True, "doc": None}]
        )
        rows = await statement.rows(session, {"names": ["four"], "above": 0})
        assert [r[0] for r in rows] == [4]
        await session.rollback()
    async with db.read() as session:
        assert await statement.rows(session, {"names": ["four"], "above": 0}) == []


async def _driver_in_transaction(db: Database, reader: AsyncSession | BareConnection) -> bool:
    driver: Any
    if isinstance(reader, BareConnection):
        driver = reader._driver
    else:
        driver = (await (await reader.connection()).get_raw_connection()).driver_connection
    return bool(driver.in_transaction if db.is_sqlite else driver.is_in_transaction())


async def test_a_write_begins_its_transaction_first_and_a_lookup_opens_none(
    db: Database,
) -> None:
    """On PostgreSQL SQLAlchemy sends a unit's BEGIN with its own first statement: a direct read
    that comes first begins it, so the unit's later statements share its transaction. A lookup
    (autocommit, and a bare lookup connection) has no transaction to begin."""
    statement = _named(not db.is_sqlite)
    params = {"names": ["one"], "above": 0}
    async with db.write() as session:
        assert len(await statement.rows(session, params)) == 1
        assert await _driver_in_transaction(db, session)
    async with db.read(snapshot=False) as session:
        assert len(await statement.rows(session, params)) == 1
        assert not await _driver_in_transaction(db, session)
    async with db.lookup() as connection:
        assert len(await statement.rows(connection, params)) == 1
        assert not await _driver_in_transaction(db, connection)


_RENAME = DirectWrite(update(_T).where(_T.c.flag == bindparam("when")).values(name=bindparam("to")))
_ADD = DirectWrite(insert(_T))


async def test_a_direct_write_is_part_of_its_unit_of_work(db: Database) -> None:
    statement = _named(not db.is_sqlite)
    added = {"id": 5, "name": "five", "at": AT, "flag": True, "doc": {"k": [1, None]}}
    async with db.write() as session:
        assert await _RENAME.run(session, {"when": False, "to": "renamed"}) == 2
        await _ADD.run_many(session, [added])
        rows = await statement.rows(session, {"names": ["renamed", "five"], "above": 0})
        assert [tuple(r) for r in rows] == [
            (2, "renamed", None, False, None),
            (3, "renamed", AT, False, ["x"]),
            (5, "five", AT, True, {"k": [1, None]}),
        ]
        await session.rollback()
    async with db.read() as session:
        assert await statement.rows(session, {"names": ["renamed", "five"], "above": 0}) == []
    async with db.write() as session:
        await _ADD.run_many(session, [added])
    async with db.read() as session:  # as SQLAlchemy reads what it stored
        stored = (await session.execute(select(_T).where(_T.c.id == 5))).one()
    assert tuple(stored) == tuple(added.values())


@pytest.mark.parametrize("savepoint", ["sqlalchemy", "driver"])
async def test_a_violated_constraint_is_an_integrity_error_and_its_savepoint_recovers(
    db: Database, savepoint: str
) -> None:
    taken = {"id": 1, "name": "again", "at": None, "flag": True, "doc": None}

    async def rename_then_add_a_taken_id(session: AsyncSession) -> None:
        nested = session.begin_nested() if savepoint == "sqlalchemy" else None
        async with nested or driver_savepoint(session):
            assert await _RENAME.run(session, {"when": False, "to": "undone"}) == 2
            await _ADD.run_many(session, [taken])

    async with db.write() as session:
        with pytest.raises(IntegrityError):
            await rename_then_add_a_taken_id(session)
        rows = await _named(not db.is_sqlite).rows(session, {"names": ["undone"], "above": 0})
        assert rows == []  # the rename before the violation was rolled back with it
        assert await _RENAME.run(session, {"when": True, "to": "still"}) == 1
        async with driver_savepoint(session):  # released: what it wrote stays
            assert await _RENAME.run(session, {"when": False, "to": "kept"}) == 2
    async with db.read() as session:
        names = (await session.execute(select(_T.c.name).order_by(_T.c.id))).scalars().all()
    assert names == ["still", "kept", "kept"]
