"""Fixtures of the rate-limit tests: the same app with in-memory and with Redis limit storage."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import redis
import time_machine

from parlay.accounts import service as accounts
from parlay.accounts.limits import RateLimits
from parlay.app import create_app
from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.lib.clock import SystemClock
from tests.conftest import REDIS_URL, Brand, make_brand, unavailable


def redis_reachable() -> str:
    """The test Redis URL, or a skip (a failure under CI=true)."""
    conn = redis.Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except (OSError, redis.RedisError) as exc:
        unavailable("Redis", exc)
    finally:
        conn.close()
    return REDIS_URL


@dataclass
class LimitedBrand:
    """An account under test and the credential it calls with (``headers``)."""

    brand: Brand
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return self.brand.url


@dataclass
class Limited:
    """An app wired by ``build_container`` with the storage under test, and a way to add brands.

    The wall clock stands still (``clock.shift`` moves it), so a burst is in one second by
    construction, however slow the machine; windows roll only when the test says so.
    """

    storage: str
    container: Container
    client: httpx.AsyncClient
    clock: time_machine.Traveller

    async def brand(
        self, rate_limit: int | None = None, *, with_admin: bool = False
    ) -> LimitedBrand:
        """A new account (its per-account limits all ``rate_limit``, else the defaults) calling
        with an admin login, or else (cheaper: no password hashing) with an API key of scope
        ``handoffs:read``."""
        # Unique ids: Redis windows outlive a test by a second, and both dialects share Redis.
        account_id = f"rl-{uuid.uuid4().hex[:12]}"
        if with_admin:
            brand = await make_brand(self.container, self.client, account_id, rate_limit=rate_limit)
            return LimitedBrand(brand, brand.admin)
        async with self.container.db.write() as session:
            limits = RateLimits(*[rate_limit] * 4) if rate_limit is not None else RateLimits()
            await accounts.create_account(
                session, account_id, "Brand", now=SystemClock().now(), rate_limits=limits
            )
        brand = Brand(account_id, self.container, self.client)
        return LimitedBrand(brand, brand.auth(await brand.api_key("handoffs:read")))


@pytest.fixture(params=["memory", "redis"])
def limiter_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Staff users and keys limited to 3/s (so a burst of 10 shows the budget at once)."""
    update: dict[str, object] = {"staff_rate_limit_per_second": 3}
    if request.param == "memory":
        return settings.model_copy(update={**update, "redis_url": None})
    return settings.model_copy(update={**update, "redis_url": redis_reachable()})


@pytest.fixture
async def limited(limiter_settings: Settings) -> AsyncIterator[Limited]:
    async for limited in _limited(limiter_settings):
        yield limited


@pytest.fixture
async def staff_limited(settings: Settings) -> AsyncIterator[Limited]:
    """The production limits (staff 50/s per user or key), in memory."""
    defaults = Settings.model_fields
    update = {
        "staff_rate_limit_per_second": defaults["staff_rate_limit_per_second"].default,
        "agent_rate_limit_per_second": defaults["agent_rate_limit_per_second"].default,
    }
    async for limited in _limited(settings.model_copy(update=update)):
        yield limited


async def _limited(limiter_settings: Settings) -> AsyncIterator[Limited]:
    container = build_container(limiter_settings)
    transport = httpx.ASGITransport(app=create_app(container.services))
    storage = "redis" if limiter_settings.redis_url else "memory"
    with time_machine.travel(time.time(), tick=False) as clock:
        async with httpx.AsyncClient(transport=transport, base_url="http://parlay.test") as client:
            yield Limited(storage, container, client, clock)
    await container.close()
