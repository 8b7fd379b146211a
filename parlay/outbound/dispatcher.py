"""The dispatcher: claims due deliveries, runs the send-time checks, sends, records outcomes.

Lanes keep providers apart: each channel (inapp, sms, wa) has its own claim loop and its own
bound on sends in flight, so a slow provider fills only its own lane. A separate priority lane
claims only IVR invites, so an invite never waits behind a campaign's batches. Outcomes are
buffered and written back in batches (one transaction per flush), which is what lets one process
record thousands of statuses per second on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Row

from parlay.channels.base import Accepted, Channel, OutboundMessage, Rejected, RetryLater
from parlay.clock import Clock
from parlay.db.engine import Database
from parlay.observability.logging import get_logger
from parlay.outbound import queue
from parlay.outbound.checks import Fail, Hold, Pass, Recipient, check, load_facts
from parlay.outbound.context import ContextCache, SendContext, render
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


def backoff_delay(attempt: int, config: DispatchConfig, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        channels: dict[str, Channel],
        config: DispatchConfig | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.channels = channels
        self.config = config or DispatchConfig()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._contexts = ContextCache()
        self._claims = 0
        self._pending: list[Outcome] = []
        self._flush_now = asyncio.Event()
        self._priority_wake = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        lanes = [
            self._lane("priority", None, INVITE_PRIORITY, self.config.priority_concurrency),
            *(
                self._lane(kind, [kind], None, self.config.concurrency.get(kind, 32))
                for kind in CHANNELS
                if kind in self.channels
            ),
        ]
        for coro in (*lanes, self._flusher(), self._housekeeping()):
            self._tasks.append(asyncio.create_task(coro))
        log.info("dispatcher started", worker=self.worker_id)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming, let sends in flight finish (up to the grace period), write outcomes."""
        self._stopping = True
        self._wake.set()
        self._priority_wake.set()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace_seconds)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()
        log.info("dispatcher stopped", worker=self.worker_id)

    def wake(self, *, priority: bool = False) -> None:
        """New work was queued (in this process): look now rather than at the next poll."""
        (self._priority_wake if priority else self._wake).set()

    # --- lanes ----------------------------------------------------------------------------

    async def _lane(
        self, name: str, channels: Sequence[str] | None, max_priority: int | None, capacity: int
    ) -> None:
        """Claim batches ahead (up to ``batch_size``), send at most ``capacity`` at once."""
        wake = self._priority_wake if max_priority is not None else self._wake
        interval = (
            self.config.priority_poll_interval_seconds
            if max_priority is not None
            else self.config.poll_interval_seconds
        )
        batch = self.config.batch_size
        ready: deque[tuple[Row[Any], OutboundMessage]] = deque()
        slots = asyncio.Semaphore(capacity)
        loop = asyncio.get_running_loop()
        next_claim_at = 0.0  # after a short claim, wait for the poll interval (or a wake-up)
        while not self._stopping:
            now = loop.time()
            if len(ready) <= batch // 2 and (now >= next_claim_at or wake.is_set()):
                wake.clear()
                want = batch - len(ready)
                try:
                    rows = await self._claim(channels, max_priority, want)
                    ready.extend(await self._prepare(rows) if rows else [])
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the lane
                    log.exception("claim failed", lane=name)
                    rows = []
                next_claim_at = now + interval if len(rows) < want else 0.0
            if not ready:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_claim_at - loop.time())):
                        await wake.wait()
                continue
            await slots.acquire()
            row, message = ready.popleft()
            task = asyncio.create_task(self._send(row, message))
            self._inflight.add(task)

            def done(t: asyncio.Task[None]) -> None:
                self._inflight.discard(t)
                slots.release()

            task.add_done_callback(done)

    async def _claim(
        self, channels: Sequence[str] | None, max_priority: int | None, limit: int
    ) -> Sequence[Row[Any]]:
        self._claims += 1
        owner = f"{self.worker_id}:{self._claims}"
        now = self.clock.now()
        async with self.db.write() as session:
            return await queue.claim(
                session,
                owner=owner,
                now=now,
                lease=timedelta(seconds=self.config.lease_seconds),
                limit=limit,
                channels=channels,
                max_priority=max_priority,
            )

    async def _prepare(self, rows: Sequence[Row[Any]]) -> list[tuple[Row[Any], OutboundMessage]]:
        """Run the send-time checks on a claimed batch; return what may be sent now."""
        now = self.clock.now()
        async with self.db.read() as session:
            contexts = await self._contexts.load(
                session,
                {r.campaign_id for r in rows if r.campaign_id},
                {r.call_id for r in rows if r.call_id},
            )
            recipients = {r.id: self._recipient(r, _context_of(r, contexts)) for r in rows}
            facts = await load_facts(session, recipients.values())
        sends = []
        for row in rows:
            context = _context_of(row, contexts)
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
            result = check(recipients[row.id], facts, now)
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
        text = row.message_text or context.message_text or channel.get("messageText") or ""
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
            backend_service="c2m" if row.source == Source.IVR_DEFLECTION else "prmsg",
            text=render(text, row.variables),
            consumer_id=row.consumer_id,
            phone=row.phone,
            expires_at=row.expires_at,
            lookback_seconds=row.lookback_seconds,
            attempt=row.attempts,
            title=channel.get("notificationTitle"),
            from_number=context.outbound_number or channel.get("outboundNumber"),
            variables=row.variables,
            template=template,
            campaign_info={
                "campaignId": context.campaign_id,
                "campaignName": context.campaign_name,
                "callId": context.call_id,
                "skill": row.skill,
            },
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
        if isinstance(result, Accepted):
            self._add(Outcome.sent(row.id, owner, result.provider_message_id))
        elif isinstance(result, Rejected):
            if result.dead_tokens:
                await self._disable_tokens(row.account_id, result.dead_tokens)
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
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.flush_interval_seconds):
                    await self._flush_now.wait()
            self._flush_now.clear()
            try:
                await self._flush()
            except Exception:  # noqa: BLE001 - keep the outcomes and try again
                log.exception("recording outcomes failed; will retry")
                await asyncio.sleep(self.config.poll_interval_seconds)

    async def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            async with self.db.write() as session:
                await queue.record(session, batch, self.clock.now())
        except BaseException:
            self._pending[:0] = batch  # nothing is lost: written on the next flush
            raise

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.config.housekeeping_interval_seconds)
            try:
                now = self.clock.now()
                async with self.db.write() as session:
                    await queue.expire_overdue(session, now)
                    await queue.finish_campaigns(session, now)
            except Exception:  # noqa: BLE001 - retried at the next tick
                log.exception("housekeeping failed")


def _context_of(row: Row[Any], contexts: dict[str, SendContext]) -> SendContext | None:
    if row.campaign_id:
        return contexts.get(f"c:{row.campaign_id}")
    if row.call_id:
        return contexts.get(f"k:{row.call_id}")
    return None
