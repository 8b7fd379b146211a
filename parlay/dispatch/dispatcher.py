"""The dispatcher: claims due deliveries, runs the send-time checks, sends, records outcomes.

Lanes keep providers apart: each channel (inapp, sms, wa) has its own pipeline and its own
bound on sends in flight, so a slow provider fills only its own lane. A separate priority lane
claims only IVR invites and agents' pushes (priority 0), so neither waits behind a campaign's
batches. In each lane a feeder claims and checks the next batch while the sender keeps the
provider busy with the batch already prepared. Outcomes are buffered and written back in batches
(one transaction per flush), which is what lets one process record thousands of statuses per
second on SQLite.

Delivery is at least once: a send whose acceptance was not yet written when the process died is
sent again after its lease runs out, so duplicates are bounded by the sends in flight plus the
outcomes not yet flushed. A claimed delivery is never handed to a channel once its lease is too
short to finish the send, so a live worker never races another for the same delivery.

The pieces: ``prepare`` (checks and messages), ``lifecycle`` (every status write),
``housekeeping`` (expiry, campaign completion), ``wakeups`` (LISTEN/NOTIFY), and the shared
``Urgency`` through which IVR work of this process makes campaign work hold back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from parlay.apps import devices
from parlay.campaigns import service as campaigns
from parlay.channels.base import Accepted, Channel, OutboundMessage, RetryLater, SendResult
from parlay.delivery import lifecycle, queue
from parlay.delivery.lifecycle import Outcome
from parlay.delivery.origins import Origins
from parlay.delivery.queue import ClaimedDelivery, Lease
from parlay.delivery.status import INVITE_PRIORITY, DeliveryStatus, ErrorSource
from parlay.dispatch import housekeeping, wakeups
from parlay.dispatch.config import CHANNELS, DispatchConfig
from parlay.dispatch.origins import OriginCache
from parlay.dispatch.prepare import cancelled_outcome, outcome_of, prepare
from parlay.dispatch.report import SendTiming, provider_of, report_outcomes
from parlay.lib.clock import Clock
from parlay.lib.db.engine import Database
from parlay.lib.events.presence import Presence
from parlay.lib.observability.logging import get_logger
from parlay.lib.observability.metrics import Metrics
from parlay.lib.urgency import Urgency

log = get_logger("parlay.dispatcher")
# Who, in the shared ``Urgency``, says that an invite is on its way.
_PRIORITY_LANE = "dispatcher.priority-lane"
# Outcomes logged and counted between two steps aside for urgent work: ~2 ms of the event loop.
REPORT_SLICE = 100
SentCallback = Callable[[Sequence[OutboundMessage]], Awaitable[None]]


@dataclass(frozen=True)
class _Ready:
    """A claimed delivery that passed its checks, waiting for a free send slot."""

    delivery: ClaimedDelivery
    message: OutboundMessage
    send_by: float  # event-loop time after which its lease is too short to start the send


@dataclass
class _Lane:
    """One claim-and-send pipeline: a feeder claims and checks the next batch while the
    sender keeps up to ``capacity`` sends in flight from the batch already prepared."""

    name: str
    channels: tuple[str, ...]
    min_priority: int | None
    max_priority: int | None
    capacity: int
    poll_interval: float
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # new work, look now
    filled: asyncio.Event = field(default_factory=asyncio.Event)  # ``ready`` got deliveries
    drained: asyncio.Event = field(default_factory=asyncio.Event)  # ``ready`` ran low
    ready: deque[_Ready] = field(default_factory=deque)
    sending: int = 0  # sends started and not yet answered
    claiming: bool = False  # woken for new work: its claim and checks are under way
    asked: bool = False  # told of new work (``wake``): the next claim is not skipped
    # Invites of this process inserted already leased to this lane (``take``): ready to check.
    handed: list[tuple[int, Lease]] = field(default_factory=list)
    caught_up: bool = False  # the last claim found less than a batch: polls look before claiming

    @property
    def is_priority(self) -> bool:
        return self.max_priority is not None


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        channels: dict[str, Channel],
        config: DispatchConfig | None = None,
        worker_id: str | None = None,
        on_sent: SentCallback | None = None,
        *,
        origins: Origins | None = None,
        urgency: Urgency | None = None,
        presence: Presence | None = None,
        metrics: Metrics | None = None,
        invites_only: bool = False,
    ) -> None:
        self.db = db
        # ``parlay api``: the priority lane alone, woken by this process's own invites (and
        # polling at the campaign lanes' pace as a safety net); no housekeeping, no LISTEN.
        self.invites_only = invites_only
        self.clock = clock
        self.channels = channels
        self.config = config or DispatchConfig()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._origins = origins or OriginCache()
        # Which devices hold a live stream: a conversation's push skips them (asked at send time).
        self._presence = presence
        # IVR work of this process (a request being answered, or an invite this dispatcher
        # claimed, checked and is handing to its channel) makes the campaign lanes start no
        # claim, no send and no outcome write, so the invite's transactions are next for the
        # database (on SQLite, the one writer) and its work is not queued behind campaign work
        # on the event loop.
        self.urgency = urgency or Urgency()
        self._claims = 0
        self._worked_at = float("-inf")  # when a claim last found deliveries (``busy``)
        self._pending: list[Outcome] = []
        # What the outcome log lines and metrics need (``report``), kept from the claim and the
        # send until the outcome is written: no query per delivery.
        self._metrics = metrics
        self._claimed: dict[int, ClaimedDelivery] = {}
        self._timings: dict[int, SendTiming] = {}
        # In-app messages accepted by the provider, announced (live events to the consumer's
        # open app) once their outcomes are written.
        self._on_sent = on_sent
        self._sent: list[OutboundMessage] = []
        self._flush_now = asyncio.Event()
        self._stopping = False
        self._lanes: list[_Lane] = []
        self._lane_tasks: list[asyncio.Task[None]] = []
        self._tasks: list[asyncio.Task[None]] = []  # the flusher and housekeeping
        self._listener: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()  # the flusher and housekeeping end at their next turn
        self._inflight: set[asyncio.Task[None]] = set()
        # Campaigns this dispatcher has seen IN_PROGRESS (claims need not mark them again).
        self._started_campaigns: set[str] = set()
        # Campaigns seen cancelled (ID -> when): what is claimed of them is not sent.
        self._cancelled: dict[str, float] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        config = self.config
        # Invites have a lane of their own, for every channel, so that they never wait behind
        # a campaign's claimed batches; the channel lanes leave them alone.
        self._lanes = [
            _Lane(
                "priority",
                CHANNELS,
                None,
                INVITE_PRIORITY,
                config.priority_concurrency,
                config.poll_interval_seconds
                if self.invites_only
                else config.priority_poll_interval_seconds,
            ),
            *(
                _Lane(
                    kind,
                    (kind,),
                    INVITE_PRIORITY + 1,
                    None,
                    config.concurrency.get(kind, 32),
                    config.poll_interval_seconds,
                )
                for kind in CHANNELS
                if kind in self.channels and not self.invites_only
            ),
        ]
        for lane in self._lanes:
            self._lane_tasks.append(asyncio.create_task(self._feed(lane)))
            self._lane_tasks.append(asyncio.create_task(self._send_loop(lane)))
        self._tasks.append(asyncio.create_task(self._flusher()))
        if not self.invites_only:
            self._tasks.append(asyncio.create_task(self._housekeeping()))
        if not self.db.is_sqlite and not self.invites_only:
            self._listener = asyncio.create_task(
                wakeups.listen(self.db, lambda priority: self.wake(priority=priority))
            )
        log.info("dispatcher started", worker=self.worker_id)

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming, let sends in flight finish (up to the grace period), write their
        outcomes, and hand back what was claimed but not sent."""
        grace = self.config.stop_grace_seconds if grace_seconds is None else grace_seconds
        self._stopping = True
        for lane in self._lanes:
            lane.wake.set()
            lane.filled.set()
            lane.drained.set()
        if self._lane_tasks:
            _, late = await asyncio.wait(self._lane_tasks, timeout=grace)
            for task in late:  # a claim stuck on the database: its rows come back by lease
                task.cancel()
            await asyncio.gather(*self._lane_tasks, return_exceptions=True)
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace)
        for lane in self._lanes:
            while lane.ready:
                item = lane.ready.popleft()
                self._add(Outcome.release(item.delivery.id, item.delivery.lease_owner))
            for delivery_id, lease in lane.handed:
                self._add(Outcome.release(delivery_id, lease.owner))
            lane.handed.clear()
        self.urgency.set_busy(_PRIORITY_LANE, False)
        # The flusher and housekeeping are asked to end, never cancelled while they write: a
        # transaction cut off mid-statement can leave SQLite's write lock held by a connection
        # that nobody will roll back (the next writer then fails with "database is locked").
        self._stopped.set()
        self._flush_now.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        try:
            await self._flush()
        except Exception:
            log.exception("writing the last outcomes failed", count=len(self._pending))
        log.info("dispatcher stopped", worker=self.worker_id)

    def wake(self, *, priority: bool = False) -> None:
        """New work was queued (in this process, or told by another): look now rather than at
        the next poll. An invite makes campaign work hold back until it is on its way."""
        if priority:
            self.urgency.set_busy(_PRIORITY_LANE, True)
        for lane in self._lanes:
            if lane.is_priority == priority:
                lane.asked = True
                lane.wake.set()

    def lease(self) -> Lease | None:
        """A lease of the priority lane for an invite about to be inserted (``PriorityLane``):
        ``None`` if this dispatcher has no priority lane or is stopping."""
        if self._stopping or self._priority_lane() is None:
            return None
        return self._new_lease(self.clock.now())

    def _new_lease(self, now: datetime) -> Lease:
        """A lease of this dispatcher's, taken now: a claim's, or an invite's before its row."""
        self._claims += 1
        until = now + timedelta(seconds=self.config.lease_seconds)
        return Lease(f"{self.worker_id}:{self._claims}", until, asyncio.get_running_loop().time())

    def _priority_lane(self) -> _Lane | None:
        return next((lane for lane in self._lanes if lane.is_priority), None)

    def take(self, lease: Lease, delivery_ids: Sequence[int]) -> None:
        """Committed deliveries inserted under ``lease``: checked and sent as if just claimed.
        Stopping, they are handed back at once (any worker may claim them)."""
        lane = self._priority_lane()
        if lane is None or self._stopping:
            for delivery_id in delivery_ids:
                self._add(Outcome.release(delivery_id, lease.owner))
            return
        lane.handed.extend((delivery_id, lease) for delivery_id in delivery_ids)
        self.urgency.set_busy(_PRIORITY_LANE, True)
        lane.wake.set()

    def handles(self, *, priority: bool) -> bool:
        """Whether this dispatcher has a lane for such work (priority: invites and pushes)."""
        return any(lane.is_priority == priority for lane in self._lanes)

    def busy(self) -> bool:
        """A claim found work in the last two seconds: work that can wait (the webhook relay)
        takes a smaller share of the event loop meanwhile."""
        return time.monotonic() - self._worked_at < 2.0

    def cancelled(self, campaign_ids: Iterable[str]) -> None:
        """These campaigns were cancelled: deliveries of theirs that a lane has claimed but not
        yet handed to a channel become CANCELLED instead of being sent.

        A cancel in this process says so at once (the composition root subscribes this to the
        cancel's signal); a cancel in another process is noticed at the next housekeeping tick.
        """
        now = time.monotonic()
        for campaign_id in campaign_ids:
            self._cancelled.setdefault(campaign_id, now)

    # --- lanes ----------------------------------------------------------------------------

    async def _feed(self, lane: _Lane) -> None:
        """Keep ``lane.ready`` stocked: claim and check the next batch while sends go on."""
        batch = self.config.batch_size
        while not self._stopping:
            if len(lane.ready) >= batch:
                lane.drained.clear()
                await lane.drained.wait()
                continue
            if not lane.is_priority:
                await self.urgency.yield_to_urgent()
            # An invite's claim and checks are part of the caller's wait: campaign work holds
            # back from the wake-up to the provider's answer, not only once it is claimed.
            lane.wake.clear()
            if lane.handed:  # invites of this process, leased to this lane: no claim needed
                handed, lane.handed = lane.handed, []
                lane.claiming = True
                await self._make_ready(lane, handed)
                lane.claiming = False
                if not lane.asked and lane.caught_up:  # nothing else to look for until a poll
                    self._priority_settled(lane)
                    await self._idle(lane)
                    continue
            lane.claiming = lane.asked
            lane.asked = False
            claimed: list[tuple[int, Lease]] = []
            try:
                if lane.claiming or not lane.caught_up or await self._anything_due(lane):
                    claimed = await self._claim(lane, batch)
            except Exception:
                log.exception("claim failed", lane=lane.name)
            if claimed and lane.is_priority:
                self.urgency.set_busy(_PRIORITY_LANE, True)  # also when found by polling
            if claimed and not await self._make_ready(lane, claimed):
                lane.claiming = False
                if lane.is_priority:
                    self._priority_settled(lane)
                await asyncio.sleep(self.config.poll_interval_seconds)
                continue
            lane.claiming = False
            if lane.is_priority:
                self._priority_settled(lane)
            lane.caught_up = len(claimed) < batch
            if lane.caught_up:
                await self._idle(lane)

    async def _idle(self, lane: _Lane) -> None:
        """Caught up: look again at the next poll, or as soon as work is queued here."""
        if not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(lane.poll_interval):
                    await lane.wake.wait()

    async def _make_ready(self, lane: _Lane, leased: Sequence[tuple[int, Lease]]) -> bool:
        """Check deliveries leased to ``lane`` (claimed, or handed over) and make those that may
        go ready, each to be sent within the window of its lease; if the checks fail, hand them
        all back (any dispatcher may claim them) and say so."""
        try:
            ready = await self._prepare([i for i, _ in leased], urgent=lane.is_priority)
        except Exception:
            log.exception("send-time checks failed", lane=lane.name)
            for delivery_id, lease in leased:
                self._add(Outcome.release(delivery_id, lease.owner))
            return False
        window = self.config.send_window_seconds
        since = {delivery_id: lease.since for delivery_id, lease in leased}
        lane.ready.extend(_Ready(d, message, since[d.id] + window) for d, message in ready)
        lane.filled.set()
        return True

    async def _send_loop(self, lane: _Lane) -> None:
        """Start sends from ``lane.ready``, at most ``lane.capacity`` at once."""
        slots = asyncio.Semaphore(lane.capacity)
        loop = asyncio.get_running_loop()
        low_water = self.config.batch_size

        def done(task: asyncio.Task[None]) -> None:
            self._inflight.discard(task)
            slots.release()
            lane.sending -= 1
            if lane.is_priority:
                self._priority_settled(lane)

        while not self._stopping:
            if not lane.ready:
                lane.filled.clear()
                await lane.filled.wait()
                continue
            await slots.acquire()
            if self._stopping or not lane.ready:
                slots.release()
                continue
            item = lane.ready.popleft()
            if len(lane.ready) < low_water:
                lane.drained.set()
            if not lane.is_priority and not self.urgency.is_calm:
                await self.urgency.yield_to_urgent()
            task = self._start(item, loop.time())
            if task is None:
                slots.release()
            else:
                lane.sending += 1
                self._inflight.add(task)
                task.add_done_callback(done)
            if lane.is_priority:
                self._priority_settled(lane)

    def _start(self, item: _Ready, now: float) -> asyncio.Task[None] | None:
        """Hand one prepared delivery to its channel, unless it may no longer go."""
        if item.delivery.campaign_id in self._cancelled:
            self._add(cancelled_outcome(item.delivery))
            return None
        if now > item.send_by:
            # Held too long (a slow provider backed the lane up): another worker may claim it
            # any moment, so sending now could send it twice. Hand it back instead.
            self._add(Outcome.release(item.delivery.id, item.delivery.lease_owner))
            return None
        return asyncio.create_task(self._send(item.delivery, item.message))

    def _priority_settled(self, lane: _Lane) -> None:
        """Campaign work may go on once no invite is claimed, prepared, waiting to be sent or
        waiting for its provider's answer (the answer is part of the caller's wait: campaign
        sends resumed meanwhile would queue ahead of it on the event loop)."""
        if (
            not lane.ready
            and not lane.sending
            and not lane.claiming
            and not lane.handed
            and not lane.wake.is_set()
        ):
            self.urgency.set_busy(_PRIORITY_LANE, False)

    async def _anything_due(self, lane: _Lane) -> bool:
        """A poll's look before it claims: a read, no write transaction (``queue.any_due``)."""
        async with self.db.lookup() as connection:
            return await queue.any_due(
                connection,
                now=self.clock.now(),
                channels=lane.channels,
                min_priority=lane.min_priority,
                max_priority=lane.max_priority,
            )

    async def _claim(self, lane: _Lane, limit: int) -> list[tuple[int, Lease]]:
        """Lease a batch for this lane: the deliveries' IDs, each with the batch's lease."""
        now = self.clock.now()
        lease = self._new_lease(now)
        # The priority lane's claim is an invite's next step: ahead of campaign writes waiting.
        async with self.db.write(urgent=lane.is_priority) as session:
            claims = await queue.claim_ids(
                session,
                owner=lease.owner,
                now=now,
                lease=timedelta(seconds=self.config.lease_seconds),
                limit=limit,
                channels=lane.channels,
                min_priority=lane.min_priority,
                max_priority=lane.max_priority,
            )
            starting = {c.campaign_id for c in claims if c.campaign_id}
            starting -= self._started_campaigns
            await campaigns.mark_started(session, starting)
        if len(self._started_campaigns) > 10_000:
            self._started_campaigns.clear()
        self._started_campaigns |= starting
        if claims:
            self._worked_at = time.monotonic()
        return [(c.delivery_id, lease) for c in claims]

    async def _prepare(
        self, ids: Sequence[int], *, urgent: bool = False
    ) -> list[tuple[ClaimedDelivery, OutboundMessage]]:
        """Read a claimed batch and run the send-time checks; return what may be sent now.
        Unless ``urgent``, the checks step aside for urgent work every slice of the batch."""
        now = self.clock.now()
        async with self.db.read() as session:
            batch = await queue.claimed_rows(session, ids)
            prepared = await prepare(
                session,
                batch,
                self._origins,
                self.channels.keys(),
                now,
                self._presence,
                pause=None if urgent else self.urgency.yield_to_urgent,
            )
        self._claimed.update((d.id, d) for d in batch)
        for outcome in prepared.outcomes:
            self._add(outcome)
        return prepared.sends

    async def _send(self, delivery: ClaimedDelivery, message: OutboundMessage) -> None:
        channel = self.channels[delivery.channel]
        result: SendResult
        answered: SendResult | None = None
        began = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.send_timeout_seconds):
                result = answered = await channel.send(message)
        except TimeoutError:
            result = RetryLater(ErrorSource.PARLAY, "timed out waiting for the provider")
        except Exception as exc:
            log.exception("channel raised", delivery_id=delivery.id, channel=delivery.channel)
            result = RetryLater(ErrorSource.PARLAY, f"channel error: {type(exc).__name__}")
        seconds = time.perf_counter() - began
        now = self.clock.now()
        self._timings[delivery.id] = SendTiming(provider_of(message, answered), seconds, now)
        if result.dead_tokens:
            # Also when another device of the consumer took the push (sent) or may later (retry):
            # a token the provider refused for good is never used again.
            try:
                await self._disable_tokens(delivery.account_id, result.dead_tokens)
            except Exception:
                log.exception("disabling dead push tokens failed", delivery_id=delivery.id)
        if isinstance(result, Accepted) and self._on_sent and message.channel == "inapp":
            self._sent.append(message)
        self._add(outcome_of(delivery, result, self.config, now))

    async def _disable_tokens(self, account_id: str, tokens: Sequence[str]) -> None:
        async with self.db.write() as session:
            await devices.disable_tokens(session, account_id, tokens, self.clock.now())

    # --- outcomes ----------------------------------------------------------------------------

    def _add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= self.config.flush_batch:
            self._flush_now.set()

    async def _flusher(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.flush_interval_seconds):
                    await self._flush_now.wait()
            if self._stopped.is_set():
                return  # ``stop`` writes what is left
            self._flush_now.clear()
            await self.urgency.yield_to_urgent()
            try:
                await self._flush()
            except Exception:
                log.exception("recording outcomes failed; will retry")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.poll_interval_seconds):
                        await self._stopped.wait()

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        sent, self._sent = self._sent, []
        try:
            prepared = lifecycle.prepare_outcomes(batch, self.db.dialect, self.clock.now())
            async with self.db.write() as session:
                changed = await lifecycle.write_outcomes(session, prepared)
        except BaseException:
            self._pending[:0] = batch  # nothing is lost: written on the next flush
            self._sent[:0] = sent
            raise
        # Logged and counted a slice at a time (~20 µs an outcome), stepping aside for urgent
        # work in between: the outcomes are written already, so nothing waits on this.
        written = {c.delivery_id for c in changed}
        for start in range(0, len(batch), REPORT_SLICE):
            if start:
                await self.urgency.yield_to_urgent()
            try:
                report_outcomes(
                    batch[start : start + REPORT_SLICE],
                    written,
                    self._claimed,
                    self._timings,
                    self._metrics,
                    log_lines=self.config.log_outcomes,
                )
            except Exception:
                log.warning("reporting outcomes failed", count=len(batch), exc_info=True)
        if sent and self._on_sent is not None:
            # Only what this flush recorded as SENT: a stale outcome changed nothing.
            now_sent = {c.delivery_id for c in changed if c.kind == DeliveryStatus.SENT}
            announce = [m for m in sent if m.delivery_id in now_sent]
            if announce:
                try:
                    await self._on_sent(announce)
                except Exception:
                    log.warning("announcing sent messages failed", count=len(sent), exc_info=True)

    async def _housekeeping(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.housekeeping_interval_seconds):
                    await self._stopped.wait()
            if self._stopped.is_set():
                return
            try:
                now = self.clock.now()
                async with self.db.write() as session:
                    await housekeeping.sweep(session, now)
                await self._notice_cancels()
            except Exception:
                log.exception("housekeeping failed")

    async def _notice_cancels(self) -> None:
        """Campaigns cancelled elsewhere among those this worker holds claimed deliveries of."""
        keep_for = 2 * self.config.lease_seconds  # by then no claim of theirs is still held
        for campaign_id, seen in list(self._cancelled.items()):
            if time.monotonic() - seen > keep_for:
                del self._cancelled[campaign_id]
        held = {
            item.delivery.campaign_id
            for lane in self._lanes
            for item in lane.ready
            if item.delivery.campaign_id and item.delivery.campaign_id not in self._cancelled
        }
        if held:
            async with self.db.read() as session:
                self.cancelled(await campaigns.cancelled_campaigns(session, held))
