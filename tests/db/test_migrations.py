"""Migrations build exactly the models' schema, on SQLite and PostgreSQL, and come back down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from parlay import migrations as migrate
from parlay.lib.db.engine import Database
from parlay.migrations.tables import Base

pytestmark = pytest.mark.anyio

MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
async def db(empty_database_url: str) -> AsyncIterator[Database]:
    database = Database(empty_database_url, pool_size=1)
    yield database
    await database.dispose()


async def tables(db: Database) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with db.engine.connect() as conn:
        return await conn.run_sync(names)


async def schema(db: Database) -> dict[str, list[str]]:
    """Every table with its columns: what a migration changes."""

    def columns(connection: Connection) -> dict[str, list[str]]:
        inspector = inspect(connection)
        return {
            table: sorted(c["name"] for c in inspector.get_columns(table))
            for table in inspector.get_table_names()
        }

    async with db.engine.connect() as conn:
        return await conn.run_sync(columns)


async def schema_differences(db: Database) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write: nothing, if models and migrations
    agree."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(compare)


def revisions_base_to_head() -> list[Any]:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return list(reversed(list(scripts.walk_revisions())))


async def test_upgrade_creates_every_model_table_and_matches_the_models(db: Database) -> None:
    await migrate.upgrade(db)

    assert await tables(db) == MODEL_TABLES | {"alembic_version"}
    assert await schema_differences(db) == []
    assert await migrate.current_revision(db) == migrate.head_revision()


async def test_downgrade_to_base_removes_every_table_and_upgrade_rebuilds_them(
    db: Database,
) -> None:
    await migrate.upgrade(db)

    await migrate.downgrade(db, "base")
    assert await tables(db) == {"alembic_version"}
    assert await migrate.current_revision(db) is None

    await migrate.upgrade(db)
    assert await tables(db) == MODEL_TABLES | {"alembic_version"}
    assert await schema_differences(db) == []


async def test_each_revision_goes_one_step_up_and_down(db: Database) -> None:
    revisions = revisions_base_to_head()
    assert revisions, "one line of history from base"
    assert revisions[0].down_revision is None, "one line of history from base"
    await migrate.upgrade(db, revisions[0].revision)
    await migrate.downgrade(db, "base")
    before = await schema(db)  # nothing but alembic_version
    for revision in revisions:
        await migrate.upgrade(db, revision.revision)
        after = await schema(db)
        assert after != before, f"{revision.revision} changes nothing"

        await migrate.downgrade(db, revision.down_revision or "base")
        assert await schema(db) == before, f"{revision.revision} does not undo itself"
        assert await migrate.current_revision(db) == revision.down_revision

        await migrate.upgrade(db, revision.revision)
        assert await schema(db) == after
        before = after
    assert set(before) == MODEL_TABLES | {"alembic_version"}


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
async def test_a_migration_waits_while_another_process_migrates(
    empty_database_url: str, db: Database
) -> None:
    """Scaled out, every process migrates at start: on a new database they must take turns, not
    race to create the same tables. (SQLite's ``BEGIN IMMEDIATE`` already makes them wait.)"""
    other = await asyncpg.connect(empty_database_url)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT pg_advisory_xact_lock($1)", migrate.MIGRATION_LOCK_KEY)

        waiting = asyncio.create_task(migrate.upgrade(db))
        with anyio.move_on_after(5):
            while not await other.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                await anyio.sleep(0.02)
        assert not waiting.done(), "the migration ran while another process held the lock"
        assert await other.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ), "the migration never asked for the migration lock"

        await transaction.commit()
        with anyio.fail_after(10):
            await waiting
    finally:
        await other.close()
    assert await tables(db) == MODEL_TABLES | {"alembic_version"}
