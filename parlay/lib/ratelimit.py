"""Request limits on the ``limits`` library: N requests per rolling window, keyed by whoever asks.

Storage is chosen by URL: in-memory for one process, Redis when ``PARLAY_REDIS_URL`` is set so
that a limit holds across every API process. A moving window is exact: N per rolling window.

Who is counted under which key and with which limit is the callers' business (the API's
``rate_limit``, the login throttle); this module only counts. If the storage cannot be reached
(Redis down), the limiter **fails open**: the request passes, the error is logged and
``on_error`` is told (the metrics count it). Losing rate limiting must not take the API down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.ratelimit")


class ApiFamily(StrEnum):
    """A group of routes with budgets of its own, so that a campaign burst never starves IVR
    calls. Who a budget belongs to depends on the family and on the caller."""

    C2M = "c2m"
    PROACTIVE = "proactive"
    REPORTING = "reporting"
    CONSUMER = "consumer"
    CONFIG = "config"
    LOGIN = "login"
    AGENT = "agent"


@dataclass(frozen=True)
class Limit:
    """At most ``amount`` hits in any rolling ``seconds``."""

    amount: int
    seconds: int = 1

    def item(self) -> RateLimitItem:
        return _Window(self.amount, self.seconds)


class _Window(RateLimitItemPerSecond):
    """A moving window whose storage key leaves out the amount.

    ``limits`` puts the amount in the key, so an admin changing a limit would start an empty
    window and let a second burst through. Keyed by name and key only, the new limit applies at
    once to the hits already counted.
    """

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return "/".join([self.namespace, *(str(i) for i in identifiers), f"{self.multiples}s"])


class RateLimiter(Protocol):
    async def hit(self, name: str, key: str, limit: Limit) -> int | None:
        """Count one hit. None if allowed, else the seconds to wait (for ``Retry-After``)."""
        ...

    async def peek(self, name: str, key: str, limit: Limit) -> int | None:
        """Like ``hit`` without counting: the seconds to wait if the budget is spent."""
        ...

    async def close(self) -> None: ...


def storage_url(redis_url: str | None) -> str:
    if not redis_url:
        return "async+memory://"
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss"):
        raise ValueError(f"PARLAY_REDIS_URL must be redis:// or rediss://, not {redis_url!r}")
    return f"async+{scheme}://{rest}"


class LimitsRateLimiter:
    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "parlay",
        on_error: Callable[[], None] | None = None,
    ) -> None:
        if "redis" in url:
            storage = storage_from_string(
                url,
                implementation="redispy",
                key_prefix=key_prefix,
                # A Redis that does not answer must cost a request little: fail open fast.
                socket_connect_timeout=1,
                socket_timeout=1,
            )
        else:
            storage = storage_from_string(url)
        if not isinstance(storage, Storage):
            raise TypeError(f"{url!r} is not an async limits storage")
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._on_error = on_error

    async def hit(self, name: str, key: str, limit: Limit) -> int | None:
        item = limit.item()
        try:
            if await self._strategy.hit(item, name, key):
                return None
            return await self._wait(item, name, key)
        except Exception:  # noqa: BLE001 - fail open: no limit is better than no API
            self._failed(name)
            return None

    async def peek(self, name: str, key: str, limit: Limit) -> int | None:
        item = limit.item()
        try:
            if await self._strategy.test(item, name, key):
                return None
            return await self._wait(item, name, key)
        except Exception:  # noqa: BLE001 - fail open, as ``hit``
            self._failed(name)
            return None

    async def _wait(self, item: RateLimitItem, name: str, key: str) -> int:
        stats = await self._strategy.get_window_stats(item, name, key)
        # Never beyond the window: Redis hands timestamps back rounded (Lua's %.14g), which
        # could otherwise make a one-second window ask for two.
        return max(1, min(item.get_expiry(), math.ceil(stats.reset_time - time.time())))

    def _failed(self, name: str) -> None:
        log.error("rate limiter storage unreachable; request allowed", family=name, exc_info=True)
        if self._on_error is not None:
            self._on_error()

    async def close(self) -> None:
        """Nothing to release: limits' storages keep no resource that outlives the process."""
