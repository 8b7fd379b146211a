"""The webhook relay: sends the outbox's events to the brands' endpoints, in the worker.

It runs beside the dispatcher's lanes but shares nothing with them but the database: its own
loop, its own HTTP client and its own bound on requests in flight, so a slow or dead receiver
holds only webhook events, never a push. Each turn leases a batch of due events (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL: with several workers each event is sent by one in the normal case),
renders them, POSTs them signed, and records the results in one transaction: delivered events
are deleted, failed ones are tried again after an exponential backoff with jitter, and a
subscription whose events have failed for 24 hours is disabled.

At least once: an event whose result was not recorded (the worker died mid-batch) is sent again
once its lease runs out. A leased event is not started once its lease is too short to finish
the request, so a live relay never races another for the same event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from parlay.delivery.views import delivery_states
from parlay.lib.clock import Clock
from parlay.lib.db.engine import Database
from parlay.lib.http.client import retry_after_seconds, tls_context
from parlay.lib.http.h1post import Http1Poster, HttpError
from parlay.lib.http.urls import BlockedAddress, UrlPolicy
from parlay.lib.observability.logging import get_logger
from parlay.lib.observability.metrics import Metrics
from parlay.lib.secretbox import Sealed, SecretBox
from parlay.lib.signing import SIGNATURE_HEADER, signature
from parlay.webhooks import outbox
from parlay.webhooks.outbox import Attempt, Leased, Target

log = get_logger("parlay.webhooks")
EVENT_ID_HEADER = "X-Parlay-Event-Id"
USER_AGENT = "Parlay-Webhooks/1"


@dataclass(frozen=True)
class RelayConfig:
    concurrency: int = 64  # requests in flight, over all subscriptions
    batch_size: int = 500
    lanes: int = 2  # batches in progress at once: one is recorded while another is sent
    lease_seconds: float = 60.0
    timeout_seconds: float = 10.0
    poll_interval_seconds: float = 0.5
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)
    # While the dispatcher of this process is busy, the share of time a lane spends on turns
    # (it rests the rest): pushes come first, the events wait in the outbox and catch up after.
    share_when_busy: float = 0.05


def backoff_seconds(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """How long to wait after the ``failures``-th failure: base x 2^(failures-1), capped, of
    which the second half is random (so receivers that come back are not hit all at once)."""
    delay: float = min(cap, base * 2.0 ** min(failures - 1, 32))
    return delay / 2 + rng.uniform(0, delay / 2)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def event_body(event: Leased, data: dict[str, Any]) -> bytes:
    """The JSON document POSTed for one event."""
    doc = {
        "id": event.event_id,
        "type": event.event_type,
        "createdAt": _iso(event.created_at),
        "accountId": event.account_id,
        "data": data,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookRelay:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        box: SecretBox,
        urls: UrlPolicy,
        config: RelayConfig | None = None,
        *,
        worker_id: str | None = None,
        ca_bundle: str | None = None,
        rng: random.Random | None = None,
        busy: Callable[[], bool] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self._metrics = metrics
        self._busy = busy or (lambda: False)
        self.clock = clock
        self.config = config or RelayConfig()
        self.worker_id = worker_id or (
            f"{socket.gethostname()}:{os.getpid()}:wh:{uuid.uuid4().hex[:6]}"
        )
        self._box = box
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        # Its own connections, apart from the push clients': a slow receiver holds only these.
        self._poster = Http1Poster(urls, tls_context(ca_bundle), max_idle=self.config.concurrency)
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._secrets: dict[str, str] = {}  # sealed token -> secret (decrypting costs ~30 µs)
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._lane(), name=f"webhook-relay-{i}")
            for i in range(self.config.lanes)
        ]

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; what is being sent finishes (bounded by the request timeout)."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.config.timeout_seconds + 5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._poster.aclose()

    async def _lane(self) -> None:
        share = self.config.share_when_busy
        idle = False  # the last turn found nothing to send
        while not self._stopping:
            began = time.monotonic()
            try:
                # After an empty turn, a poll (not a wake-up: events were queued) looks first.
                sent = await self.run_once(look_first=idle and not self._wake.is_set())
            except Exception:
                log.warning("webhook relay turn failed", exc_info=True)
                sent = 0
            idle = sent == 0
            if self._stopping:
                return
            if sent and self._busy():
                # Measured: a relay sending at full speed in the dispatcher's event loop took
                # half of the dispatch rate (docs/webhooks.md#performance).
                await asyncio.sleep((time.monotonic() - began) * (1 - share) / share)
            elif sent == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.poll_interval_seconds):
                        await self._wake.wait()

    async def run_once(self, *, look_first: bool = False) -> int:
        """One turn: lease a batch, send it, record what came of it; how many were leased.
        ``look_first`` (a poll after an empty turn): lease only if a read finds something due,
        so an idle relay takes no write transaction."""
        config = self.config
        started = time.monotonic()
        now = self.clock.now()
        if look_first:
            async with self.db.lookup() as connection:
                if not await outbox.any_due(connection, now):
                    if self._metrics is not None:
                        self._metrics.webhook_relay_oldest.set(0)
                    return 0
        async with self.db.write() as session:
            leased = await outbox.lease(
                session,
                owner=self.worker_id,
                now=now,
                duration=timedelta(seconds=config.lease_seconds),
                limit=config.batch_size,
            )
        if self._metrics is not None:
            oldest = min((e.created_at for e in leased), default=now)
            self._metrics.webhook_relay_oldest.set((now - oldest).total_seconds())
        if not leased:
            return 0
        async with self.db.read() as session:
            targets = await outbox.targets(session, [e.subscription_id for e in leased])
            states = await delivery_states(
                session, [e.delivery_id for e in leased if e.delivery_id is not None]
            )
        # Past this moment a request could outlast the lease: leave the event to the next turn.
        # (With a lease shorter than the timeout, which only tests set, half the lease.)
        margin = min(5.0, config.lease_seconds / 10)
        send_by = started + max(
            config.lease_seconds - config.timeout_seconds - margin, config.lease_seconds / 2
        )
        results = await asyncio.gather(
            *(self._send(e, targets.get(e.subscription_id), states, send_by) for e in leased)
        )
        attempts = [a for a in results if a is not None]
        unsent = [e.id for e, a in zip(leased, results, strict=True) if a is None]
        async with self.db.write() as session:
            disabled = await outbox.record(
                session, attempts, self.clock.now(), config.give_up_after
            )
            await outbox.release(session, unsent, self.worker_id)
        if self._metrics is not None:
            delivered_at = self.clock.now()
            for attempt in attempts:
                if attempt.succeeded:
                    lag = (delivered_at - attempt.event.created_at).total_seconds()
                    self._metrics.webhook_relay_lag.observe(max(lag, 0.0))
        for d in disabled:
            log.warning("webhook disabled", subscription=d.subscription_id, reason=d.reason)
        return len(leased)

    def _secret(self, target: Target) -> str:
        sealed = Sealed.from_json(target.secret, f"webhook {target.id}")
        secret = self._secrets.get(sealed.token)
        if secret is None:
            secret = self._secrets[sealed.token] = self._box.open(sealed)
        return secret

    def _data(self, event: Leased, states: dict[int, dict[str, Any]]) -> dict[str, Any]:
        if event.delivery_id is None:
            return event.data or {}
        # The delivery's state now (it may be further along than this event's change: its
        # ``sequence`` says which; a receiver keeps the highest).
        return states.get(event.delivery_id) or {
            "deliveryId": event.delivery_id,
            "sequence": event.sequence,
        }

    async def _send(
        self,
        event: Leased,
        target: Target | None,
        states: dict[int, dict[str, Any]],
        send_by: float,
    ) -> Attempt | None:
        if target is None:  # deleted meanwhile (its events went with it)
            return None
        async with self._slots:
            if time.monotonic() > send_by or self._stopping:
                return None
            body = event_body(event, self._data(event, states))
            now = self.clock.now()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: signature(self._secret(target), body, int(now.timestamp())),
                EVENT_ID_HEADER: event.event_id,
            }
            began = time.perf_counter()
            status: int | None = None
            retry_after: float | None = None
            try:
                answer = await self._poster.post(
                    target.url, body, headers, timeout=self.config.timeout_seconds
                )
                status = answer.status
                error = None if 200 <= status < 300 else f"HTTP {status}"
                if status in (429, 503):
                    retry_after = retry_after_seconds(
                        answer.headers.get("retry-after"), now.timestamp()
                    )
            except BlockedAddress:
                error = "refused: the URL resolves to an address that is not public"
            except TimeoutError:
                error = "timeout"
            except HttpError as exc:
                error = f"connection failed ({exc.kind})"
            latency_ms = round((time.perf_counter() - began) * 1000)
        retry_at = None
        if error is not None:
            wait = backoff_seconds(
                event.attempts + 1,
                self.config.backoff_base_seconds,
                self.config.backoff_cap_seconds,
                self._rng,
            )
            if retry_after is not None:
                wait = max(wait, min(retry_after, self.config.backoff_cap_seconds))
            retry_at = now + timedelta(seconds=wait)
        return Attempt(event, now, status, latency_ms, error, retry_at)
