"""Group commit: many callers' small writes in one write transaction.

A provider's status callbacks arrive one HTTP request each, two or three per message sent. Each
in a transaction of its own, they queue for the database's writer (SQLite has one; on
PostgreSQL they queue on the same count rows) and the commits, not the work, set the pace: 54
SMS/s with their callbacks on SQLite (``bench/sms.py``). Eligibility checks store their calls
the same way: one transaction each, the writer passed from check to check through the event
loop (each statement a turn of the loop while other requests run), held ~10 ms per call under
load, capped SQLite at about 100 checks/s with the CPU half idle (``bench/eligibility.py``).

Here a request hands its item over and waits; whoever finds no batch running starts one, and
every item submitted meanwhile joins the next batch: one transaction, one commit, for as many
items as arrived while the last one ran. Each caller is answered only after the transaction
holding its item has committed, so a provider that got its 2xx has its report stored (a crash
before the commit answers nothing, and the provider sends again), and a call the IVR was told
about is there for its invite.

A batch that fails is run again item by item, each in a transaction of its own, so one bad item
fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from parlay.lib.db.uow import Transactions, UnitOfWork

T = TypeVar("T")

# Enough to fill one transaction without holding the writer long (a batch of 256 callbacks is
# a few milliseconds of statements).
MAX_BATCH = 256


class GroupCommit(Generic[T]):
    """Runs ``apply(uow, items)`` for the items submitted together, in one write transaction
    (``urgent``: one an IVR caller waits on, which takes SQLite's writer before background
    writers still waiting)."""

    def __init__(
        self,
        tx: Transactions,
        apply: Callable[[UnitOfWork, Sequence[T]], Awaitable[None]],
        *,
        max_batch: int = MAX_BATCH,
        urgent: bool = False,
    ) -> None:
        self._tx = tx
        self._apply = apply
        self._max_batch = max_batch
        self._urgent = urgent
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Until ``item`` is committed (or its transaction raised: then this raises it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)
        self._waiting.append((item, done))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._waiting:
            await asyncio.sleep(0)  # one turn of the loop: requests read meanwhile join
            batch = self._waiting[: self._max_batch]
            del self._waiting[: len(batch)]
            try:
                await self._write([item for item, _ in batch])
            except Exception:  # noqa: BLE001 - isolated below, item by item
                for item, done in batch:
                    await self._alone(item, done)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _alone(self, item: T, done: asyncio.Future[None]) -> None:
        try:
            await self._write([item])
        except Exception as exc:  # noqa: BLE001 - handed to its caller
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

    async def _write(self, items: Sequence[T]) -> None:
        async with self._tx.write(urgent=self._urgent) as uow:
            await self._apply(uow, items)


def _retrieved(done: asyncio.Future[None]) -> None:
    """A caller that went away (its request was cancelled) leaves its outcome unread; read it
    here, so that a failure nobody awaits any more is not reported as never retrieved."""
    if not done.cancelled():
        done.exception()
