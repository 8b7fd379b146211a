"""The one composition root: builds every long-lived part from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from parlay.channels.base import Channel
from parlay.channels.sandbox import SandboxChannel
from parlay.clock import Clock, SystemClock
from parlay.config import Settings
from parlay.db.engine import Database
from parlay.observability.metrics import Metrics
from parlay.outbound.dispatcher import DispatchConfig, Dispatcher
from parlay.ratelimit.limiter import LimitsRateLimiter, RateLimiter, storage_url


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    limiter: RateLimiter
    channels: dict[str, Channel] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    dispatcher: Dispatcher | None = None

    def notify_new_work(self, *, priority: bool = False) -> None:
        """Work was queued: a dispatcher in this process looks at once (others poll)."""
        if self.dispatcher is not None:
            self.dispatcher.wake(priority=priority)

    def start_dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            self.dispatcher = Dispatcher(
                self.db, self.clock, self.channels, dispatch_config(self.settings)
            )
            self.dispatcher.start()
        return self.dispatcher

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            self.dispatcher = None
        for channel in set(self.channels.values()):
            await channel.close()
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


def build_channels(settings: Settings) -> dict[str, Channel]:
    """Every channel goes to the sandbox until its provider adapter is configured."""
    sandbox = SandboxChannel(
        delay_seconds=settings.sandbox_delay_ms / 1000,
        script_file=settings.sandbox_script,
        log_file=settings.sandbox_log,
    )
    return {"inapp": sandbox, "sms": sandbox, "wa": sandbox}


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    limiter: RateLimiter | None = None,
    channels: dict[str, Channel] | None = None,
) -> Container:
    """Wire Parlay for these settings. Tests pass their own clock, limiter or channels."""
    return Container(
        settings=settings,
        db=Database(settings.database_url),
        clock=clock or SystemClock(),
        limiter=limiter or LimitsRateLimiter(storage_url(settings.redis_url)),
        channels=channels if channels is not None else build_channels(settings),
    )
