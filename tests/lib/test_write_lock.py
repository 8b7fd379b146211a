"""SQLite's one writer: an urgent writer (an IVR caller waiting) is next once the holder is done,
ahead of background writers that were already waiting; each kind keeps its arrival order."""

from __future__ import annotations

import asyncio

import pytest

from parlay.lib.db.engine import WriteLock

pytestmark = pytest.mark.anyio


async def _writer(lock: WriteLock, name: str, order: list[str], *, urgent: bool) -> None:
    async with lock.hold(urgent=urgent):
        order.append(name)


async def test_an_urgent_writer_goes_ahead_of_background_writers_already_waiting() -> None:
    lock = WriteLock()
    order: list[str] = []
    async with lock.hold():
        tasks = [
            asyncio.create_task(_writer(lock, "flush", order, urgent=False)),
            asyncio.create_task(_writer(lock, "claim", order, urgent=False)),
            asyncio.create_task(_writer(lock, "invite", order, urgent=True)),
            asyncio.create_task(_writer(lock, "priority claim", order, urgent=True)),
        ]
        await asyncio.sleep(0)  # every writer is queued behind the holder
        assert order == []
    await asyncio.gather(*tasks)
    assert order == ["invite", "priority claim", "flush", "claim"]


async def test_a_writer_cancelled_while_waiting_leaves_the_lock_to_the_next() -> None:
    lock = WriteLock()
    order: list[str] = []
    async with lock.hold():
        gone = asyncio.create_task(_writer(lock, "gone", order, urgent=True))
        kept = asyncio.create_task(_writer(lock, "kept", order, urgent=False))
        await asyncio.sleep(0)
        gone.cancel()
    await asyncio.gather(gone, kept, return_exceptions=True)
    assert order == ["kept"]
    async with asyncio.timeout(1):  # free again
        async with lock.hold():
            pass
