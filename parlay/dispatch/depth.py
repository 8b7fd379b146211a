"""The queue's depth per dispatcher lane, sampled for ``parlay_queue_depth``.

One grouped COUNT of the due deliveries every few seconds (``PARLAY_QUEUE_DEPTH_INTERVAL_SECONDS``,
at least one), in its own task beside the dispatcher: the lanes' claims and sends never wait
for it, and a scrape never queries the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.delivery.models import Delivery
from parlay.delivery.queue import is_pending
from parlay.delivery.status import INVITE_PRIORITY
from parlay.dispatch.config import CHANNELS
from parlay.lib.clock import Clock
from parlay.lib.db.engine import Database
from parlay.lib.observability.logging import get_logger
from parlay.lib.observability.metrics import Metrics

log = get_logger("parlay.dispatcher")
PRIORITY_LANE = "priority"


async def due_by_lane(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Deliveries due by ``now`` and not yet claimed, per lane: ``priority`` (invites and
    conversation pushes, every channel) and one per channel (campaign deliveries)."""
    urgent = (Delivery.priority <= INVITE_PRIORITY).label("urgent")
    rows = await session.execute(
        select(Delivery.channel, urgent, func.count())
        .where(
            is_pending(Delivery.status),
            Delivery.next_attempt_at <= now,
            # A claimed delivery is being worked on; one whose lease ran out is due again.
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .group_by(Delivery.channel, urgent)
    )
    depth = dict.fromkeys((PRIORITY_LANE, *CHANNELS), 0)
    for channel, is_urgent, count in rows:
        lane = PRIORITY_LANE if is_urgent else channel
        depth[lane] = depth.get(lane, 0) + count
    return depth


class QueueDepthGauge:
    """Samples ``due_by_lane`` into ``metrics.queue_depth`` until stopped."""

    def __init__(self, db: Database, clock: Clock, metrics: Metrics, interval: float) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._interval = interval
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="queue-depth")

    async def stop(self) -> None:
        # Asked to end, not cancelled: a read cut off mid-statement may leave a connection behind.
        self._stopped.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def sample(self) -> None:
        async with self._db.read() as session:
            depth = await due_by_lane(session, self._clock.now())
        for lane, count in depth.items():
            self._metrics.queue_depth.labels(lane).set(count)

    async def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.sample()
            except Exception:
                log.warning("sampling the queue depth failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stopped.wait()
