"""The schema's history: Alembic migrations run on an open async engine (SQLite or PostgreSQL).

``tables.py`` imports every table so that Alembic (and the tests) see the whole schema;
``versions/`` holds one file per schema change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from parlay.lib.db.engine import Database

MIGRATIONS_DIR = Path(__file__).parent
# Any constant will do: every Parlay process that migrates takes this PostgreSQL advisory lock.
MIGRATION_LOCK_KEY = 0x7061726C6179  # "parlay"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _run(connection: Connection, /, action: str, revision: str, **kwargs: Any) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision, **kwargs)


async def _serialize(conn: AsyncConnection) -> None:
    """On PostgreSQL, wait for any other process migrating the same database.

    Scaled out, every ``parlay api``/``worker`` migrates at start; without this, processes started
    together race to create the same tables and all but one crash. The lock ends with the
    transaction. SQLite needs nothing: the migration's ``BEGIN IMMEDIATE`` already serializes.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    async with db.engine.begin() as conn:
        await _serialize(conn)
        await conn.run_sync(_run, "upgrade", revision)


async def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to ``revision`` (``base`` drops every table)."""
    async with db.engine.begin() as conn:
        await _serialize(conn)
        await conn.run_sync(_run, "downgrade", revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)
