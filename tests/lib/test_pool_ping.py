"""PostgreSQL: a pooled connection the server dropped is never handed out; the pool checks
each connection as it leaves and replaces one that does not answer."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from parlay.lib.db.engine import Database

pytestmark = pytest.mark.anyio


async def _backend_pid(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def test_a_connection_the_server_dropped_is_replaced_before_use(
    postgres_database: str,
) -> None:
    db = Database(postgres_database, pool_size=1)
    try:
        dropped = await _backend_pid(db)
        admin = await asyncpg.connect(postgres_database)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", dropped)
        finally:
            await admin.close()

        assert await _backend_pid(db) not in (0, dropped)
    finally:
        await db.dispose()
