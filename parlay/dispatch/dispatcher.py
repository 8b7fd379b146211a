"""The dispatcher: claims due deliveries, runs the send-time checks, sends, records outcomes.

Lanes keep providers apart: each channel (inapp, sms, wa) has its own pipeline and its own
bound on sends in flight, so a slow provider fills only its own lane. A separate priority lane
claims only IVR invites, so an invite never waits behind a campaign's batches. In each lane a
feeder claims and checks the next batch while the sender keeps the provider busy with the batch
already prepared. Outcomes are buffered and written back in batches (one transaction per flush),
which is what lets one process record thousands of statuses per second on SQLite.

Delivery is at least once: a send whose acceptance was not yet written when the process died is
sent again after its lease runs out, so duplicates are bounded by the sends in flight plus the
outcomes not yet flushed. A claimed delivery is never handed to a channel once its lease is too
short to finish the send, so a live worker never races another for the same delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, text

from parlay.channels.base import Accepted, Channel, OutboundMessage, Rejected, RetryLater
from parlay.clock import Clock
from parlay.db.engine import Database
from parlay.observability.logging import get_logger
from parlay.outbound import queue
from parlay.outbound.campaigns import cancel_leftovers
from parlay.outbound.checks import Fail, Hold, Pass, Recipient, check, load_facts
from parlay.outbound.context import ContextCache, SendContext, backend_service, message_text
from parlay.outbound.queue import Outcome
from parlay.outbound.status import (
    INVITE_PRIORITY,
    DeliveryStatus,
    ErrorCode,
    ErrorSource,
    Source,
)

log = get_logger("parlay.dispatcher")
CHANNELS = ("inapp", "sms", "wa")
# PostgreSQL: the channel on which API processes tell workers that work was queued.
NOTIFY_CHANNEL = "parlay_work"
# The longest campaign work waits for an invite on its way (a stuck priority lane cannot stall
# the campaigns for longer than this at a time).
MAX_YIELD_SECONDS = 0.25


@dataclass(frozen=True)
class DispatchConfig:
    concurrency: dict[str, int] = field(default_factory=lambda: {"inapp": 256, "sms": 64, "wa": 64})
    priority_concurrency: int = 32
    batch_size: int = 500
    lease_seconds: float = 60.0
    send_timeout_seconds: float = 15.0
    poll_interval_seconds: float = 0.25
    priority_poll_interval_seconds: float = 0.05
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    flush_interval_seconds: float = 0.02
    flush_batch: int = 1000
    housekeeping_interval_seconds: float = 1.0
    stop_grace_seconds: float = 10.0

    @property
    def send_window_seconds(self) -> float:
        """How long after its claim a delivery may still be handed to a channel.

        A send must end, and its outcome be written, while the lease still holds; otherwise
        another worker may claim the delivery and send it again. So a send starts only while at
        least the send timeout (plus a second for the write) is left, or half the lease when
        the lease is shorter than that.
        """
        margin = min(self.send_timeout_seconds + 1.0, self.lease_seconds / 2)
        return self.lease_seconds - margin


def backoff_delay(attempt: int, config: DispatchConfig, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class _Ready:
    """A claimed delivery that passed its checks, waiting for a free send slot."""

    row: Row[Any]
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
        on_sent: Callable[[Sequence[OutboundMessage]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.channels = channels
        self.config = config or DispatchConfig()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._contexts = ContextCache()
        self._claims = 0
        self._pending: list[Outcome] = []
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
        # Cleared while an invite is on its way (being queued by a request of this process, or
        # claimed, checked and handed to its channel by the priority lane): campaign lanes then
        # start no claim, no send and no outcome write, so the invite's transactions are next
        # for the database (on SQLite, the one writer) and its work is not queued behind
        # campaign work on the event loop.
        self._calm = asyncio.Event()
        self._calm.set()
        self._urgent_requests = 0
        self._priority_busy = False

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
                config.priority_poll_interval_seconds,
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
                if kind in self.channels
            ),
        ]
        for lane in self._lanes:
            self._lane_tasks.append(asyncio.create_task(self._feed(lane)))
            self._lane_tasks.append(asyncio.create_task(self._send_loop(lane)))
        for coro in (self._flusher(), self._housekeeping()):
            self._tasks.append(asyncio.create_task(coro))
        if not self.db.is_sqlite:
            self._listener = asyncio.create_task(self._listen())
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
                self._add(Outcome.release(item.row.id, item.row.lease_owner))
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
        except Exception:  # noqa: BLE001 - unrecorded sends are re-sent after the lease
            log.exception("writing the last outcomes failed", count=len(self._pending))
        log.info("dispatcher stopped", worker=self.worker_id)

    def wake(self, *, priority: bool = False) -> None:
        """New work was queued (in this process): look now rather than at the next poll."""
        if priority:
            self._priority_busy = True
            self._update_calm()
        for lane in self._lanes:
            if lane.is_priority == priority:
                lane.wake.set()

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Campaign work of this dispatcher holds back while the block runs: wrap the handling
        of an IVR request (eligibility, invite) so that its transactions do not queue behind
        campaign claims and status writes (at most ``MAX_YIELD_SECONDS`` at a time)."""
        self._urgent_requests += 1
        self._update_calm()
        try:
            yield
        finally:
            self._urgent_requests -= 1
            self._update_calm()

    def _update_calm(self) -> None:
        if self._urgent_requests or self._priority_busy:
            self._calm.clear()
        else:
            self._calm.set()

    def cancelled(self, campaign_ids: Iterable[str]) -> None:
        """These campaigns were cancelled: deliveries of theirs that a lane has claimed but not
        yet handed to a channel become CANCELLED instead of being sent.

        The cancel in this process says so at once (``Container.notify_cancelled``); a cancel
        in another process is noticed at the next housekeeping tick.
        """
        now = time.monotonic()
        for campaign_id in campaign_ids:
            self._cancelled.setdefault(campaign_id, now)

    # --- lanes ----------------------------------------------------------------------------

    async def _feed(self, lane: _Lane) -> None:
        """Keep ``lane.ready`` stocked: claim and check the next batch while sends go on."""
        batch = self.config.batch_size
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if len(lane.ready) >= batch:
                lane.drained.clear()
                await lane.drained.wait()
                continue
            if not lane.is_priority:
                await self._yield_to_invites()
            lane.wake.clear()
            claimed_at = loop.time()
            try:
                owner, ids = await self._claim(lane, batch)
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the lane
                log.exception("claim failed", lane=lane.name)
                owner, ids = "", []
            if ids:
                try:
                    prepared = await self._prepare(ids)
                except Exception:  # noqa: BLE001 - hand the batch back rather than sit on it
                    log.exception("send-time checks failed", lane=lane.name)
                    for delivery_id in ids:
                        self._add(Outcome.release(delivery_id, owner))
                    await asyncio.sleep(self.config.poll_interval_seconds)
                    continue
                send_by = claimed_at + self.config.send_window_seconds
                lane.ready.extend(_Ready(row, message, send_by) for row, message in prepared)
                lane.filled.set()
            if lane.is_priority:
                self._priority_settled(lane)
            if len(ids) < batch and not self._stopping:
                # Caught up: look again at the next poll, or as soon as work is queued here.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(lane.poll_interval):
                        await lane.wake.wait()

    async def _send_loop(self, lane: _Lane) -> None:
        """Start sends from ``lane.ready``, at most ``lane.capacity`` at once."""
        slots = asyncio.Semaphore(lane.capacity)
        loop = asyncio.get_running_loop()
        low_water = self.config.batch_size

        def done(task: asyncio.Task[None]) -> None:
            self._inflight.discard(task)
            slots.release()

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
            if not lane.is_priority and not self._calm.is_set():
                await self._yield_to_invites()
            task = self._start(item, loop.time())
            if task is None:
                slots.release()
            else:
                self._inflight.add(task)
                task.add_done_callback(done)
            if lane.is_priority:
                self._priority_settled(lane)

    def _start(self, item: _Ready, now: float) -> asyncio.Task[None] | None:
        """Hand one prepared delivery to its channel, unless it may no longer go."""
        if item.row.campaign_id in self._cancelled:
            self._add(_cancelled_outcome(item.row))
            return None
        if now > item.send_by:
            # Held too long (a slow provider backed the lane up): another worker may claim it
            # any moment, so sending now could send it twice. Hand it back instead.
            self._add(Outcome.release(item.row.id, item.row.lease_owner))
            return None
        return asyncio.create_task(self._send(item.row, item.message))

    def _priority_settled(self, lane: _Lane) -> None:
        """Campaign work may go on once no invite is claimed, prepared or waiting to be sent."""
        if not lane.ready and not lane.wake.is_set():
            self._priority_busy = False
            self._update_calm()

    async def _yield_to_invites(self) -> None:
        if not self._calm.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_YIELD_SECONDS):
                    await self._calm.wait()

    async def _claim(self, lane: _Lane, limit: int) -> tuple[str, list[int]]:
        """Lease a batch for this lane: its lease owner and the deliveries' IDs."""
        self._claims += 1
        owner = f"{self.worker_id}:{self._claims}"
        now = self.clock.now()
        async with self.db.write() as session:
            ids = await queue.claim_ids(
                session,
                owner=owner,
                now=now,
                lease=timedelta(seconds=self.config.lease_seconds),
                limit=limit,
                channels=lane.channels,
                min_priority=lane.min_priority,
                max_priority=lane.max_priority,
                started=self._started_campaigns,
            )
        return owner, ids

    async def _prepare(self, ids: Sequence[int]) -> list[tuple[Row[Any], OutboundMessage]]:
        """Read a claimed batch and run the send-time checks; return what may be sent now."""
        now = self.clock.now()
        async with self.db.read() as session:
            rows = await queue.claimed_rows(session, ids)
            contexts = await self._contexts.for_deliveries(session, rows)
            recipients = {r.id: self._recipient(r, contexts.get(r.id)) for r in rows}
            facts = await load_facts(session, recipients.values())
        sends = []
        for row in rows:
            context = contexts.get(row.id)
            if context is None:
                self._add(
                    Outcome.final(
                        row.id,
                        row.lease_owner,
                        DeliveryStatus.FAILED,
                        ErrorCode.PROVIDER_REJECTED,
                        "campaign or call not found",
                    )
                )
                continue
            if now >= row.expires_at:
                self._add(
                    Outcome.final(
                        row.id,
                        row.lease_owner,
                        DeliveryStatus.EXPIRED,
                        ErrorCode.EXPIRED,
                        "not sent within the lookback period",
                    )
                )
                continue
            if row.channel not in self.channels:
                self._add(
                    Outcome.final(
                        row.id,
                        row.lease_owner,
                        DeliveryStatus.FAILED,
                        ErrorCode.PROVIDER_REJECTED,
                        f"no {row.channel} channel is configured",
                    )
                )
                continue
            # Quiet hours hold campaign SMS, not invites: an invite answers the consumer's own
            # call, and eligibility (which ignores them) said a send would be attempted now.
            invite = row.source == Source.IVR_DEFLECTION
            result = check(recipients[row.id], facts, now, quiet_hours=not invite)
            if isinstance(result, Fail):
                self._add(
                    Outcome.final(
                        row.id, row.lease_owner, result.status, result.code, result.message
                    )
                )
            elif isinstance(result, Hold):
                until = min(result.until, row.expires_at)
                self._add(Outcome.hold(row.id, row.lease_owner, until))
            else:
                sends.append((row, self._message(row, context, result)))
        return sends

    @staticmethod
    def _recipient(row: Row[Any], context: SendContext | None) -> Recipient:
        handoff = context.handoff if context else {}
        return Recipient(
            account_id=row.account_id,
            channel=row.channel,
            consumer_id=row.consumer_id,
            phone=row.phone,
            app_ids=context.app_ids if context else (),
            push_when_logged_in=handoff.get("pushWhenLoggedIn", True),
            push_when_logged_out=handoff.get("pushWhenLoggedOut", False),
        )

    @staticmethod
    def _message(row: Row[Any], context: SendContext, passed: Pass) -> OutboundMessage:
        channel = context.channel(row.channel)
        template = None
        if row.channel == "wa" and channel.get("templateName"):
            template = {
                "name": channel["templateName"],
                "language": channel.get("templateLanguage"),
                "variables": row.variables or {},
            }
        return OutboundMessage(
            delivery_id=row.id,
            account_id=row.account_id,
            channel=row.channel,
            backend_service=backend_service(row.source),
            text=message_text(context, row.channel, row.message_text, row.variables),
            consumer_id=row.consumer_id,
            phone=row.phone,
            expires_at=row.expires_at,
            lookback_seconds=row.lookback_seconds,
            attempt=row.attempts,
            title=channel.get("notificationTitle"),
            from_number=context.outbound_number or channel.get("outboundNumber"),
            variables=row.variables,
            template=template,
            campaign_info=context.campaign_info(row.skill),
            targets=passed.targets,
        )

    async def _send(self, row: Row[Any], message: OutboundMessage) -> None:
        channel = self.channels[row.channel]
        try:
            async with asyncio.timeout(self.config.send_timeout_seconds):
                result = await channel.send(message)
        except TimeoutError:
            result = RetryLater(ErrorSource.PARLAY, "timed out waiting for the provider")
        except Exception as exc:  # noqa: BLE001 - a channel bug must not lose the delivery
            log.exception("channel raised", delivery_id=row.id, channel=row.channel)
            result = RetryLater(ErrorSource.PARLAY, f"channel error: {type(exc).__name__}")
        owner = row.lease_owner
        if result.dead_tokens:
            # Also when another device of the consumer took the push (sent) or may later (retry):
            # a token the provider refused for good is never used again.
            try:
                await self._disable_tokens(row.account_id, result.dead_tokens)
            except Exception:  # noqa: BLE001 - the outcome must still be written
                log.exception("disabling dead push tokens failed", delivery_id=row.id)
        if isinstance(result, Accepted):
            if self._on_sent is not None and message.channel == "inapp":
                self._sent.append(message)
            self._add(Outcome.sent(row.id, owner, result.provider_message_id))
        elif isinstance(result, Rejected):
            self._add(
                Outcome.final(
                    row.id, owner, DeliveryStatus.FAILED, result.code, result.message, result.source
                )
            )
        else:
            self._add(self._retry_or_give_up(row, result))

    def _retry_or_give_up(self, row: Row[Any], result: RetryLater) -> Outcome:
        now = self.clock.now()
        at = now + timedelta(seconds=backoff_delay(row.attempts, self.config, result.retry_after))
        if row.attempts >= self.config.max_attempts or at >= row.expires_at:
            return Outcome.final(
                row.id,
                row.lease_owner,
                DeliveryStatus.FAILED,
                ErrorCode.PROVIDER_UNAVAILABLE,
                f"gave up after {row.attempts} attempts: {result.reason}",
                result.source,
            )
        return Outcome.retry(row.id, row.lease_owner, at, result.reason, result.source)

    async def _disable_tokens(self, account_id: str, tokens: Sequence[str]) -> None:
        async with self.db.write() as session:
            await queue.disable_tokens(session, account_id, tokens, self.clock.now())

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
            await self._yield_to_invites()
            try:
                await self._flush()
            except Exception:  # noqa: BLE001 - keep the outcomes and try again
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
            writes = queue.outcome_writes(batch, self.db.dialect, self.clock.now())
            async with self.db.write() as session:
                await queue.write_outcomes(session, writes)
        except BaseException:
            self._pending[:0] = batch  # nothing is lost: written on the next flush
            self._sent[:0] = sent
            raise
        if sent and self._on_sent is not None:
            try:
                await self._on_sent(sent)
            except Exception:  # noqa: BLE001 - live events are best-effort
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
                    await queue.expire_overdue(session, now)
                    # Retries of a cancelled campaign that came back to the queue after the
                    # cancel (they were leased then) must not go out.
                    await cancel_leftovers(session, now)
                    await queue.finish_campaigns(session, now)
                await self._notice_cancels()
            except Exception:  # noqa: BLE001 - retried at the next tick
                log.exception("housekeeping failed")

    async def _listen(self) -> None:
        """PostgreSQL: wake a lane as soon as another process queues work for it (``LISTEN``).

        Polling still runs underneath, so a lost connection only costs latency: it is opened
        again after a pause.
        """
        import asyncpg

        dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)

        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            self.wake(priority=payload == "priority")

        while True:
            try:
                conn = await asyncpg.connect(dsn)
            except (OSError, asyncpg.PostgresError):
                log.warning("cannot LISTEN for new work; polling only", exc_info=True)
                await asyncio.sleep(5)
                continue
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(NOTIFY_CHANNEL, on_notify)
                await lost.wait()
                log.warning("LISTEN connection lost; polling only until it is back")
                await asyncio.sleep(1)
            except (OSError, asyncpg.PostgresError):
                log.warning("LISTEN connection lost", exc_info=True)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))

    async def _notice_cancels(self) -> None:
        """Campaigns cancelled elsewhere among those this worker holds claimed deliveries of."""
        keep_for = 2 * self.config.lease_seconds  # by then no claim of theirs is still held
        for campaign_id, seen in list(self._cancelled.items()):
            if time.monotonic() - seen > keep_for:
                del self._cancelled[campaign_id]
        held = {
            item.row.campaign_id
            for lane in self._lanes
            for item in lane.ready
            if item.row.campaign_id and item.row.campaign_id not in self._cancelled
        }
        if held:
            async with self.db.read() as session:
                self.cancelled(await queue.cancelled_campaigns(session, held))


async def notify_workers(db: Database, *, priority: bool) -> None:
    """PostgreSQL: tell the workers of every process that work was queued (``NOTIFY``)."""
    async with db.read() as session:
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": "priority" if priority else "work"},
        )


def _cancelled_outcome(row: Row[Any]) -> Outcome:
    return Outcome.final(
        row.id,
        row.lease_owner,
        DeliveryStatus.CANCELLED,
        ErrorCode.CANCELLED,
        "the campaign was cancelled",
    )
