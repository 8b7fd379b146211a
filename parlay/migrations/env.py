"""Alembic environment. Parlay runs migrations programmatically (``parlay.migrations``),
handing over an open connection; ``render_as_batch`` lets SQLite alter tables."""

from __future__ import annotations

from alembic import context

from parlay.migrations.tables import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `parlay migrate` (parlay.migrations), not bare alembic")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
