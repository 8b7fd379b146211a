"""Group commit: the items submitted while a batch writes go together in the next transaction;
each caller returns once its item is committed; a bad item fails only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import text

from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.db.group import GroupCommit
from parlay.lib.db.uow import Signals, Transactions, UnitOfWork
from parlay.migrations import upgrade

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tx(database_url: str) -> AsyncIterator[Transactions]:
    db = Database(database_url, pool_size=2)
    await upgrade(db)
    async with db.write() as session:
        await session.execute(text("DROP TABLE IF EXISTS grouped"))
        await session.execute(text("CREATE TABLE grouped (item INTEGER NOT NULL, batch INTEGER)"))
    yield Transactions(db, SystemClock(), Signals(), idempotency_ttl=timedelta(hours=1))
    async with db.write() as session:
        await session.execute(text("DROP TABLE grouped"))
    await db.dispose()


class Recorder:
    """Writes each item with the number of the transaction that wrote it; refuses item 13."""

    def __init__(self) -> None:
        self.transactions = 0

    async def __call__(self, uow: UnitOfWork, items: Sequence[int]) -> None:
        self.transactions += 1
        for item in items:
            if item == 13:
                raise ValueError("thirteen")
            await uow.session.execute(
                text("INSERT INTO grouped (item, batch) VALUES (:item, :batch)"),
                {"item": item, "batch": self.transactions},
            )


async def stored(tx: Transactions) -> list[tuple[int, int]]:
    async with tx.read() as uow:
        rows = await uow.session.execute(text("SELECT item, batch FROM grouped ORDER BY item"))
        return [(int(item), int(batch)) for item, batch in rows.all()]


async def test_items_submitted_together_are_committed_in_one_transaction(
    tx: Transactions,
) -> None:
    recorder = Recorder()
    group = GroupCommit(tx, recorder)
    await asyncio.gather(*(group.submit(i) for i in range(20, 70)))
    # Each caller returned after its commit: everything is there, in one transaction.
    assert await stored(tx) == [(i, 1) for i in range(20, 70)]
    await group.submit(70)
    assert (await stored(tx))[-1] == (70, 2)


async def test_a_bad_item_fails_its_own_caller_and_the_others_are_stored(
    tx: Transactions,
) -> None:
    group = GroupCommit(tx, Recorder())
    results = await asyncio.gather(
        *(group.submit(i) for i in (11, 12, 13, 14)), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "ValueError", "NoneType"]
    assert [item for item, _ in await stored(tx)] == [11, 12, 14]


async def test_a_batch_is_at_most_max_batch_items(tx: Transactions) -> None:
    recorder = Recorder()
    group = GroupCommit(tx, recorder, max_batch=10)
    await asyncio.gather(*(group.submit(i) for i in range(100, 125)))
    batches = [batch for _, batch in await stored(tx)]
    assert sorted(set(batches)) == [1, 2, 3]
    assert [batches.count(b) for b in (1, 2, 3)] == [10, 10, 5]
