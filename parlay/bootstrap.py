"""The one composition root: builds every long-lived part from the settings and wires who hears
which signal. It holds no product rule; only the entry points (``runtime``, ``cli``) and the
tests import it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from parlay.accounts.usecases import AgentCapacityChanged
from parlay.apps.directory import PushAppDirectory
from parlay.apps.usecases import AppsChanged
from parlay.c2m.models import Call
from parlay.c2m.usecases import call_writer
from parlay.campaigns.usecases import CampaignCancelled
from parlay.channels.apns import ApnsClient
from parlay.channels.base import Channel, OutboundMessage
from parlay.channels.fcm import FcmClient
from parlay.channels.inapp import InAppChannel
from parlay.channels.providers import ProviderAccounts
from parlay.channels.push import PushClient
from parlay.channels.pushproxy import PushProxyClient
from parlay.channels.sandbox import SandboxChannel
from parlay.channels.segments import Segments
from parlay.channels.twilio import TwilioChannel
from parlay.channels.whatsapp import WhatsAppChannel
from parlay.config import Settings
from parlay.consumers.auth import JwksCache
from parlay.conversations import usecases as conversations
from parlay.conversations.topics import outbound_shown, shown_topics
from parlay.delivery.lifecycle import ProviderStatus
from parlay.delivery.queue import Lease, WorkQueued
from parlay.dispatch.config import DispatchConfig
from parlay.dispatch.depth import QueueDepthGauge
from parlay.dispatch.dispatcher import Dispatcher
from parlay.dispatch.origins import OriginCache
from parlay.dispatch.wakeups import notify_workers
from parlay.dispatch.webhooks import RelayConfig, WebhookRelay
from parlay.lib.clock import Clock, SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.db.group import GroupCommit
from parlay.lib.db.uow import Signals, Transactions
from parlay.lib.events.hub import EventHub, build_hub
from parlay.lib.events.live import LiveEvent, publish
from parlay.lib.events.presence import Presence, build_presence
from parlay.lib.events.sse import StreamSlots
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.observability.logging import get_logger
from parlay.lib.observability.metrics import Metrics
from parlay.lib.ratelimit import LimitsRateLimiter, RateLimiter, storage_url
from parlay.lib.secretbox import SecretBox
from parlay.lib.urgency import Urgency
from parlay.messaging.directory import ProviderDirectory
from parlay.messaging.usecases import ProviderAccountsChanged, sms_status_writer
from parlay.services import Services
from parlay.webhooks.usecases import WebhooksQueued

log = get_logger("parlay.bootstrap")
# The process's sandbox channel remembers its newest sends, not all of them (a long-running
# process would grow without bound: ~400 bytes a send, 40 MB per 100,000).
SANDBOX_KEEPS = 1_000


@dataclass(frozen=True)
class _OwnPriorityLane:
    """The invites' ``PriorityLane`` of this process: its dispatcher's priority lane, when it
    runs one (``parlay serve``, ``parlay api``, ``parlay worker``)."""

    container: Container

    def lease(self) -> Lease | None:
        dispatcher = self.container.dispatcher
        return dispatcher.lease() if dispatcher is not None else None

    def take(self, lease: Lease, delivery_ids: Sequence[int]) -> None:
        # No dispatcher any more (stopped meanwhile): the lease runs out, then any worker claims.
        if (dispatcher := self.container.dispatcher) is not None:
            dispatcher.take(lease, delivery_ids)


@dataclass
class Container:
    """Everything one Parlay process runs: the services the faces call, and the dispatcher."""

    settings: Settings
    db: Database
    clock: Clock
    urls: UrlPolicy  # where Parlay may connect (URLs saved, and every connection opened)
    secrets: SecretBox  # PARLAY_SECRET_KEY: the stored credentials are encrypted with it
    limiter: RateLimiter
    channels: dict[str, Channel]
    hub: EventHub
    presence: Presence  # which devices hold a live stream: agents' pushes skip them
    jwks: JwksCache
    origins: OriginCache
    apps: PushAppDirectory
    providers: ProviderDirectory  # the accounts' Twilio and WhatsApp credentials, cached
    signals: Signals
    tx: Transactions
    metrics: Metrics = field(default_factory=Metrics)
    dispatcher: Dispatcher | None = None
    relay: WebhookRelay | None = None  # status webhooks, beside the dispatcher in the worker
    queue_depth: QueueDepthGauge | None = None  # parlay_queue_depth, sampled beside them
    streams: StreamSlots = field(init=False)
    sms_statuses: GroupCommit[ProviderStatus] = field(init=False)
    calls: GroupCommit[Call] = field(init=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _requeuer: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.streams = StreamSlots(self.settings.events_max_streams)
        self.sms_statuses = sms_status_writer(self.tx)
        self.calls = call_writer(self.tx)

    @property
    def services(self) -> Services:
        return Services(
            settings=self.settings,
            tx=self.tx,
            invites=_OwnPriorityLane(self),
            limiter=self.limiter,
            metrics=self.metrics,
            hub=self.hub,
            origins=self.origins,
            jwks=self.jwks,
            streams=self.streams,
            presence=self.presence,
            urls=self.urls,
            secrets=self.secrets,
            providers=self.providers,
            sms_statuses=self.sms_statuses,
            calls=self.calls,
        )

    def _new_dispatcher(self, *, invites_only: bool) -> Dispatcher:
        return Dispatcher(
            self.db,
            self.clock,
            self.channels,
            dispatch_config(self.settings),
            on_sent=self._announce_sent,
            origins=self.origins,
            urgency=self.tx.urgency,
            presence=self.presence,
            metrics=self.metrics,
            invites_only=invites_only,
        )

    def start_invite_sender(self) -> Dispatcher:
        """``parlay api``: a dispatcher of the priority lane alone, so that an invite (or an
        agent's push) this process queued goes out from here at once: the caller never waits for
        a ``NOTIFY`` to reach a worker, nor for the worker's event loop, busy with a campaign.
        Workers still poll the priority lane, and take over what this process could not send."""
        if self.dispatcher is None:
            self.dispatcher = self._new_dispatcher(invites_only=True)
            self.dispatcher.start()
        return self.dispatcher

    def start_dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            self.dispatcher = self._new_dispatcher(invites_only=False)
            self.dispatcher.start()
        if self.relay is None:
            self.relay = WebhookRelay(
                self.db,
                self.clock,
                self.secrets,
                self.urls,
                relay_config(self.settings),
                ca_bundle=self.settings.provider_ca_bundle,
                busy=self._dispatching,
                metrics=self.metrics,
            )
            self.relay.start()
        if self.queue_depth is None:
            self.queue_depth = QueueDepthGauge(
                self.db, self.clock, self.metrics, self.settings.queue_depth_interval_seconds
            )
            self.queue_depth.start()
        accept_within = self.settings.conversation_accept_timeout_seconds
        if self._requeuer is None and accept_within > 0:
            self._requeuer = asyncio.get_running_loop().create_task(
                self._requeue_lapsed(accept_within)
            )
        return self.dispatcher

    async def _requeue_lapsed(self, accept_within: float) -> None:
        """Beside the dispatcher: conversations nobody accepted in time go back to the queue
        (looked at every quarter of the time allowed, at most every 5 seconds)."""
        every = min(max(accept_within / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(every)
            try:
                await conversations.requeue_lapsed(self.tx, timedelta(seconds=accept_within))
            except Exception:
                log.exception("taking back unaccepted conversations failed")

    async def close(self) -> None:
        if self._requeuer is not None:
            self._requeuer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._requeuer
            self._requeuer = None
        if self._background:
            await asyncio.wait(set(self._background), timeout=5)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            self.dispatcher = None
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None
        if self.queue_depth is not None:
            await self.queue_depth.stop()
            self.queue_depth = None
        for channel in set(self.channels.values()):
            await channel.close()
        await self.jwks.close()
        await self.hub.close()
        await self.presence.close()
        await self.limiter.close()
        await self.db.dispose()

    # --- wiring: who hears which signal ----------------------------------------------------

    def wire(self) -> None:
        self.signals.on(LiveEvent, self._publish_live)
        self.signals.on(WorkQueued, self._work_queued)
        self.signals.on(AgentCapacityChanged, self._agent_capacity_changed)
        self.signals.on(CampaignCancelled, self._campaign_cancelled)
        self.signals.on(AppsChanged, lambda changed: self.apps.forget(changed.account_id))
        self.signals.on(WebhooksQueued, self._webhooks_queued)
        self.signals.on(
            ProviderAccountsChanged, lambda changed: self.providers.forget(changed.account_id)
        )

    async def _agent_capacity_changed(self, changed: AgentCapacityChanged) -> None:
        # Awaited: the admin's change answers once the queue has been assigned again.
        await conversations.assign_waiting(self.tx, changed.account_id)

    async def _publish_live(self, event: LiveEvent) -> None:
        await publish(self.hub, event)

    def _work_queued(self, queued: WorkQueued) -> None:
        """A dispatcher in this process with a lane for the work looks at once; otherwise, on
        PostgreSQL, the workers of other processes are told (they would find it at their next
        poll, up to 50 ms later for an invite and 250 ms for a campaign)."""
        if self.dispatcher is not None and self.dispatcher.handles(priority=queued.priority):
            self.dispatcher.wake(priority=queued.priority)
        elif not self.db.is_sqlite:
            self._in_background(notify_workers(self.db, priority=queued.priority), "notify")

    def _dispatching(self) -> bool:
        return self.dispatcher is not None and self.dispatcher.busy()

    def _webhooks_queued(self, _: WebhooksQueued) -> None:
        # A relay in another process finds the event at its next poll (half a second).
        if self.relay is not None:
            self.relay.wake()

    def _campaign_cancelled(self, cancelled: CampaignCancelled) -> None:
        if self.dispatcher is not None:
            self.dispatcher.cancelled([cancelled.campaign_id])

    async def _announce_sent(self, messages: Sequence[OutboundMessage]) -> None:
        """In-app messages the provider accepted, on the consumer's live stream. In the
        background: the dispatcher's outcome writes never wait for live events."""
        self._in_background(self._announce(messages), "announce")

    async def _announce(self, messages: Sequence[OutboundMessage]) -> None:
        # Only for consumers with a stream open now: asked once for the whole batch, so a
        # campaign's sends cost no event each (building them was 4 % of a worker's time).
        heard = await self.hub.listened(list(dict.fromkeys(shown_topics(messages))))
        if heard:
            await self._publish_all(outbound_shown(messages, heard))

    async def _publish_all(self, events: Sequence[LiveEvent]) -> None:
        for event in events:
            await publish(self.hub, event)

    def _in_background(self, work: Awaitable[None], what: str) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.warning("background signal work failed", what=what, exc_info=True)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


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
        log_outcomes=settings.log_delivery_outcomes,
    )


def relay_config(settings: Settings) -> RelayConfig:
    return RelayConfig(
        concurrency=settings.webhook_concurrency,
        timeout_seconds=settings.webhook_timeout_seconds,
        backoff_base_seconds=settings.webhook_backoff_base_seconds,
        lease_seconds=settings.webhook_lease_seconds,
        poll_interval_seconds=settings.webhook_poll_interval_seconds,
    )


def sandboxed(settings: Settings) -> frozenset[str]:
    named = {c.strip() for c in settings.sandbox_channels.split(",") if c.strip()}
    unknown = named - {"inapp", "sms", "wa"}
    if unknown:
        raise ValueError(f"PARLAY_SANDBOX_CHANNELS: unknown channel(s) {sorted(unknown)}")
    return frozenset(named)


def build_channels(
    settings: Settings,
    apps: PushAppDirectory,
    clock: Clock,
    urls: UrlPolicy,
    providers: ProviderAccounts,
    on_segments: Callable[[Segments], None] | None = None,
) -> dict[str, Channel]:
    """The real channels (APNs, FCM, push proxy; Twilio; WhatsApp) unless the sandbox is asked to
    serve them. SMS and WhatsApp fall back to the sandbox per account, for accounts that have
    not connected a provider (``make run``'s demo needs none)."""
    sandbox = SandboxChannel(
        delay_seconds=settings.sandbox_delay_ms / 1000,
        script_file=settings.sandbox_script,
        log_file=settings.sandbox_log,
        keep=SANDBOX_KEEPS,
    )
    channels: dict[str, Channel] = dict.fromkeys(sandboxed(settings), sandbox)
    ca = settings.provider_ca_bundle
    if "sms" not in channels:
        channels["sms"] = TwilioChannel(
            providers,
            sandbox,
            urls=urls,
            public_url=settings.public_url,
            ca_bundle=ca,
            clock=clock,
            on_segments=on_segments,
        )
    if "wa" not in channels:
        channels["wa"] = WhatsAppChannel(providers, sandbox, urls=urls, ca_bundle=ca, clock=clock)
    if "inapp" not in channels:
        clients: dict[str, PushClient] = {
            "apns": ApnsClient(urls=urls, ca_bundle=ca, clock=clock),
            "fcm": FcmClient(urls=urls, ca_bundle=ca, clock=clock),
            "proxy": PushProxyClient(urls=urls, ca_bundle=ca, clock=clock),
        }
        channels["inapp"] = InAppChannel(apps, clients)
    return channels


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    limiter: RateLimiter | None = None,
    channels: dict[str, Channel] | None = None,
    urls: UrlPolicy | None = None,
) -> Container:
    """Wire Parlay for these settings. Tests pass their own clock, limiter, channels or URL
    policy (one with a resolver of their own: the test suite asks no real DNS).

    ``SecretKeyError`` when ``PARLAY_SECRET_KEY`` is missing or malformed: Parlay never stores
    a credential in clear."""
    secrets = SecretBox.from_setting(settings.secret_key)
    db = Database(settings.database_url)
    clock = clock or SystemClock()
    urls = urls or UrlPolicy(allow_private=settings.allow_private_urls)
    signals = Signals()
    apps = PushAppDirectory(db, secrets)
    metrics = Metrics()
    tx = Transactions(
        db, clock, signals, idempotency_ttl=settings.idempotency_ttl, urgency=Urgency()
    )
    providers = ProviderDirectory(tx, secrets)

    def count_segments(segments: Segments) -> None:
        metrics.sms_segments.labels(segments.encoding).inc(segments.count)

    container = Container(
        settings=settings,
        db=db,
        clock=clock,
        urls=urls,
        secrets=secrets,
        limiter=limiter
        or LimitsRateLimiter(
            storage_url(settings.redis_url), on_error=metrics.rate_limiter_errors.inc
        ),
        channels=channels
        if channels is not None
        else build_channels(settings, apps, clock, urls, providers, count_segments),
        hub=build_hub(settings.redis_url),
        presence=build_presence(
            settings.redis_url,
            refresh_seconds=settings.events_keepalive_seconds,
            on_error=metrics.presence_errors.inc,
        ),
        jwks=JwksCache(urls=urls, ca_bundle=settings.provider_ca_bundle),
        origins=OriginCache(),
        apps=apps,
        providers=providers,
        signals=signals,
        metrics=metrics,
        tx=tx,
    )
    container.wire()
    return container
