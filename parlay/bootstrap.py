"""The one composition root: builds every long-lived part from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from parlay.clock import Clock, SystemClock
from parlay.config import Settings
from parlay.db.engine import Database
from parlay.observability.metrics import Metrics
from parlay.ratelimit.limiter import LimitsRateLimiter, RateLimiter, storage_url


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    limiter: RateLimiter
    metrics: Metrics = field(default_factory=Metrics)

    async def close(self) -> None:
        await self.limiter.close()
        await self.db.dispose()


def build_container(
    settings: Settings, *, clock: Clock | None = None, limiter: RateLimiter | None = None
) -> Container:
    """Wire Parlay for these settings. Tests pass their own clock or limiter."""
    return Container(
        settings=settings,
        db=Database(settings.database_url),
        clock=clock or SystemClock(),
        limiter=limiter or LimitsRateLimiter(storage_url(settings.redis_url)),
    )
