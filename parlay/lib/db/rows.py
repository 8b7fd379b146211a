"""Row helpers that the database's concurrency makes necessary."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.lib.db.base import Base

M = TypeVar("M", bound=Base)


async def insert_or_find(
    session: AsyncSession, row: M, find: Callable[[], Awaitable[M | None]]
) -> M:
    """Insert ``row``, or when a concurrent transaction inserted the same unique key first, the
    row it made: two registrations of a new consumer at once (an SDK retry, two installs) both
    saw no row, and the second insert answered 500 on PostgreSQL."""
    try:
        async with session.begin_nested():
            session.add(row)
        return row
    except IntegrityError:
        found = await find()
        if found is None:
            raise
        return found
