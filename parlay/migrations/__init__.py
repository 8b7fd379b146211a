"""The schema's history: Alembic migrations run on an open async engine (SQLite or PostgreSQL).

``tables.py`` imports every table so that Alembic (and the tests) see the whole schema;
``versions/`` holds one file per schema change. A migration that rewrites stored secrets gets the
``SecretBox`` of ``PARLAY_SECRET_KEY`` (``secrets=``; None when the key is not set) and raises
``MigrationRefused`` when it needs one it was not given.
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
from parlay.lib.secretbox import SecretBox

MIGRATIONS_DIR = Path(__file__).parent
# Any constant will do: every Parlay process that migrates takes this PostgreSQL advisory lock.
MIGRATION_LOCK_KEY = 0x7061726C6179  # "parlay"


class MigrationRefused(Exception):
    """A migration cannot run as configured (say, secrets to encrypt and no key): nothing of it
    was applied, and the message tells the operator what to do."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _run(
    connection: Connection,
    /,
    action: str,
    revision: str,
    secrets: SecretBox | None = None,
    **kwargs: Any,
) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    config.attributes["secret_box"] = secrets
    getattr(command, action)(config, revision, **kwargs)


async def _serialize(conn: AsyncConnection) -> None:
    """On PostgreSQL, wait for any other process migrating the same database.

    Scaled out, every ``parlay api``/``worker`` migrates at start; without this, processes started
    together race to create the same tables and all but one crash. The lock ends with the
    transaction. SQLite needs nothing: the migration's ``BEGIN IMMEDIATE`` already serializes.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


async def upgrade(
    db: Database, revision: str = "head", *, secrets: SecretBox | None = None
) -> None:
    """Bring the schema to ``revision`` (default: the newest). ``secrets``: the key that
    encrypts stored secrets (0006 needs it when apps are stored)."""
    async with db.engine.begin() as conn:
        await _serialize(conn)
        await conn.run_sync(_run, "upgrade", revision, secrets)


async def downgrade(db: Database, revision: str, *, secrets: SecretBox | None = None) -> None:
    """Take the schema back to ``revision`` (``base`` drops every table). Going below 0006
    decrypts the stored secrets: it needs ``secrets`` when apps are stored."""
    async with db.engine.begin() as conn:
        await _serialize(conn)
        await conn.run_sync(_run, "downgrade", revision, secrets)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)
