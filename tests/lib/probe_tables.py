"""A database with a probe table of its own for a test of the database layer: created and
filled before the test, dropped after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, Table, insert

from parlay.lib.db.engine import Database


@asynccontextmanager
async def database_with(
    url: str, table: Table, rows: Sequence[dict[str, Any]]
) -> AsyncIterator[Database]:
    metadata: MetaData = table.metadata
    database = Database(url, pool_size=1)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    async with database.write() as session:
        await session.execute(insert(table), rows)
    try:
        yield database
    finally:
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
        await database.dispose()
