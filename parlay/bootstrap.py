"""The one composition root: builds every long-lived part from the settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from parlay.channels.apns import ApnsClient
from parlay.channels.base import Channel, OutboundMessage
from parlay.channels.fcm import FcmClient
from parlay.channels.inapp import InAppChannel
from parlay.channels.push import PushClient
from parlay.channels.pushproxy import PushProxyClient
from parlay.channels.sandbox import SandboxChannel
from parlay.clock import Clock, SystemClock
from parlay.config import Settings
from parlay.consumers.auth import JwksCache
from parlay.conversations.topics import consumer_topic
from parlay.db.engine import Database
from parlay.events.hub import EventHub, build_hub
from parlay.observability.logging import get_logger
from parlay.observability.metrics import Metrics
from parlay.outbound.context import ContextCache
from parlay.outbound.dispatcher import DispatchConfig, Dispatcher, notify_workers
from parlay.ratelimit.limiter import LimitsRateLimiter, RateLimiter, storage_url

log = get_logger("parlay.bootstrap")


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    limiter: RateLimiter
    channels: dict[str, Channel] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    dispatcher: Dispatcher | None = None
    jwks: JwksCache = field(default_factory=JwksCache)
    contexts: ContextCache = field(default_factory=ContextCache)
    # Live events (agent and consumer streams): in-process, or Redis pub/sub when scaled out.
    hub: EventHub = field(default_factory=lambda: build_hub(None))

    _notifications: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    def notify_new_work(self, *, priority: bool = False) -> None:
        """Work was queued (committed): a dispatcher in this process looks at once; on
        PostgreSQL, workers in other processes are told too (they would otherwise find it at
        their next poll, up to 50 ms later for an invite and 250 ms for a campaign)."""
        if self.dispatcher is not None:
            self.dispatcher.wake(priority=priority)
        elif not self.db.is_sqlite:
            task = asyncio.get_running_loop().create_task(self._notify(priority))
            self._notifications.add(task)
            task.add_done_callback(self._notifications.discard)

    async def _notify(self, priority: bool) -> None:
        try:
            await notify_workers(self.db, priority=priority)
        except Exception:  # noqa: BLE001 - the workers' polling finds the work anyway
            log.warning("could not notify the workers", exc_info=True)

    def notify_apps_changed(self, account_id: str) -> None:
        """An app's push settings changed: this process reads them again on the next push."""
        inapp = self.channels.get("inapp")
        if isinstance(inapp, InAppChannel):
            inapp.forget(account_id)

    def urgent(self) -> contextlib.AbstractContextManager[None]:
        """Wrap an IVR request (eligibility, invite): a dispatcher in this process holds its
        campaign work back meanwhile, so the request's transactions go first."""
        if self.dispatcher is None:
            return contextlib.nullcontext()
        return self.dispatcher.urgent()

    def notify_cancelled(self, campaign_id: str) -> None:
        """A campaign was cancelled (committed): a dispatcher in this process sends nothing more
        of it at once (others notice at their next housekeeping tick)."""
        if self.dispatcher is not None:
            self.dispatcher.cancelled([campaign_id])

    async def announce_sent(self, messages: Sequence[OutboundMessage]) -> None:
        """In-app messages the provider accepted: the consumer's app, if open and streaming
        (``GET consumer/events``), shows them at once. In the background: the dispatcher's
        outcome writes never wait for live events."""
        task = asyncio.get_running_loop().create_task(self._announce(messages))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _announce(self, messages: Sequence[OutboundMessage]) -> None:
        for m in messages:
            if not m.consumer_id:
                continue
            try:
                await self.hub.publish(
                    [consumer_topic(m.account_id, m.consumer_id, None)],
                    {
                        "type": "outbound",
                        "pushMessageId": str(m.delivery_id),
                        "message": m.text,
                        "backendService": m.backend_service,
                        "lookBackPeriod": m.lookback_seconds,
                        "campaignInfo": m.campaign_info,
                    },
                )
            except Exception:  # noqa: BLE001 - best-effort: pending-outbound has them all
                log.warning("could not announce sent messages", exc_info=True)
                return

    def start_dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            self.dispatcher = Dispatcher(
                self.db,
                self.clock,
                self.channels,
                dispatch_config(self.settings),
                on_sent=self.announce_sent,
            )
            self.dispatcher.start()
        return self.dispatcher

    async def close(self) -> None:
        if self._notifications:
            await asyncio.wait(set(self._notifications), timeout=5)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            self.dispatcher = None
        for channel in set(self.channels.values()):
            await channel.close()
        await self.jwks.close()
        await self.hub.close()
        await self.limiter.close()
        await self.db.dispose()


def dispatch_config(settings: Settings) -> DispatchConfig:
    return DispatchConfig(
        concurrency={
            "inapp": settings.worker_concurrency_inapp,
            "sms": settings.worker_concurrency_sms,
            "wa": settings.worker_concurrency_wa,
        },
        priority_concurrency=settings.worker_priority_concurrency,
        batch_size=settings.worker_batch_size,
        lease_seconds=settings.worker_lease_seconds,
        send_timeout_seconds=settings.worker_send_timeout_seconds,
        poll_interval_seconds=settings.worker_poll_interval_seconds,
        max_attempts=settings.worker_max_attempts,
        backoff_base_seconds=settings.worker_backoff_base_seconds,
    )


# Channels with no provider adapter yet: always the sandbox, whatever the settings say.
WITHOUT_ADAPTER = frozenset({"sms", "wa"})


def sandboxed(settings: Settings) -> frozenset[str]:
    named = {c.strip() for c in settings.sandbox_channels.split(",") if c.strip()}
    unknown = named - {"inapp", "sms", "wa"}
    if unknown:
        raise ValueError(f"PARLAY_SANDBOX_CHANNELS: unknown channel(s) {sorted(unknown)}")
    return frozenset(named) | WITHOUT_ADAPTER


def build_channels(settings: Settings, db: Database, clock: Clock) -> dict[str, Channel]:
    """The real in-app channel (APNs, FCM, push proxy) unless the sandbox is asked to serve it."""
    sandbox = SandboxChannel(
        delay_seconds=settings.sandbox_delay_ms / 1000,
        script_file=settings.sandbox_script,
        log_file=settings.sandbox_log,
    )
    channels: dict[str, Channel] = {name: sandbox for name in sandboxed(settings)}
    if "inapp" not in channels:
        ca = settings.provider_ca_bundle
        clients: dict[str, PushClient] = {
            "apns": ApnsClient(ca_bundle=ca, clock=clock),
            "fcm": FcmClient(ca_bundle=ca, clock=clock),
            "proxy": PushProxyClient(ca_bundle=ca, clock=clock),
        }
        channels["inapp"] = InAppChannel(db, clients)
    return channels


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    limiter: RateLimiter | None = None,
    channels: dict[str, Channel] | None = None,
) -> Container:
    """Wire Parlay for these settings. Tests pass their own clock, limiter or channels."""
    db = Database(settings.database_url)
    clock = clock or SystemClock()
    return Container(
        settings=settings,
        db=db,
        clock=clock,
        limiter=limiter or LimitsRateLimiter(storage_url(settings.redis_url)),
        channels=channels if channels is not None else build_channels(settings, db, clock),
        jwks=JwksCache(ca_bundle=settings.provider_ca_bundle),
        hub=build_hub(settings.redis_url),
    )
