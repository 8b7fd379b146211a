"""Planner hints that the shape of Parlay's data makes necessary."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def prefer_indexes(session: AsyncSession) -> None:
    """PostgreSQL, this transaction only: price random reads as on an SSD.

    A campaign's deliveries are inserted together, after everything older, so they sit at the
    end of the primary key. With the default cost of a random read (4, a spinning disk's) the
    planner walks the primary key from the table's start and filters, expecting the campaign's
    rows to be spread evenly, instead of reading the campaign's own index
    (``ix_deliveries_campaign_current``): 134 ms against 0.2 ms for a first page of 100,000
    recipients among 400,000 deliveries. ``SET LOCAL`` ends with the transaction, so it is safe
    behind a transaction-pooling proxy. SQLite needs no hint."""
    if (await session.connection()).dialect.name == "postgresql":
        await session.execute(text("SET LOCAL random_page_cost = 1.1"))
