"""SQLite: a statement is one trip to aiosqlite's connection thread (not four: open a cursor,
execute, fetch, close), and it still answers as SQLAlchemy's own cursor did: rows, row counts,
errors translated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from parlay.lib.db.engine import Database

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'cursor.db'}", pool_size=1)
    async with database.write() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every function aiosqlite runs on a connection's thread, in order."""
    seen: list[object] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(fn)
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_a_statement_with_rows_is_one_trip(db: Database, trips: list[object]) -> None:
    async with db.read(snapshot=False) as session:
        await session.execute(text("SELECT 1"))  # the connection is open and checked out
        trips.clear()
        rows = (await session.execute(text("SELECT 1 UNION ALL SELECT 2 ORDER BY 1"))).all()
        assert len(trips) == 1
    assert [tuple(r) for r in rows] == [(1,), (2,)]


async def test_writes_report_their_row_counts(db: Database, trips: list[object]) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')"))
        trips.clear()
        changed = await session.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert len(trips) == 1
        assert getattr(changed, "rowcount", None) == 2
        many = await session.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "d"}, {"name": "e"}]
        )
        assert getattr(many, "rowcount", None) == 2
    async with db.read() as session:
        names = (await session.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["a", "b!", "c!", "d", "e"]


async def test_a_failing_statement_raises_sqlalchemys_error(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
    async with db.read() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 1
