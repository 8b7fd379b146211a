"""Declarative base with a stable naming convention (Alembic batch mode on SQLite needs it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _naive(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_bind(value: datetime | None) -> str | None:
    # SQLAlchemy's own SQLite DATETIME format, always with microseconds, so that text order is
    # time order. Written directly: this runs for every timestamp of a 100,000-row insert.
    return None if value is None else _naive(value).isoformat(" ", "microseconds")


def _sqlite_result(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _pg_bind(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
    return value


def _pg_result(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        return _sqlite_bind if dialect.name == "sqlite" else _pg_bind

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        return _sqlite_result if dialect.name == "sqlite" else _pg_result


# SQLite only auto-increments an INTEGER PRIMARY KEY: BIGINT elsewhere, INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# JSON on SQLite, JSONB on PostgreSQL; Python None is SQL NULL (not the JSON text 'null').
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, as a ``Table`` (the ORM types ``__table__`` as a ``FromClause``):
    for Core statements on its columns."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
