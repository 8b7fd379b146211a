"""Per-account, per-API-family request limits, on the ``limits`` library.

Storage is chosen by URL: in-memory for one process, Redis when ``PARLAY_REDIS_URL`` is set so
that the limit holds across every API process. A moving window is exact: N per rolling second.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum
from typing import Protocol

from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


class ApiFamily(StrEnum):
    """Each family has its own budget, so a campaign burst never starves IVR calls."""

    C2M = "c2m"
    PROACTIVE = "proactive"
    REPORTING = "reporting"
    CONSUMER = "consumer"
    CONFIG = "config"
    LOGIN = "login"
    # Per agent or bot (keyed by user), with its own setting: see ``enforce_rate_limit``.
    AGENT = "agent"


class RateLimiter(Protocol):
    async def hit(self, family: ApiFamily, account_id: str, per_second: int) -> int | None:
        """Count one request. None if allowed, else the seconds to wait (for ``Retry-After``)."""
        ...

    async def close(self) -> None: ...


def storage_url(redis_url: str | None) -> str:
    if not redis_url:
        return "async+memory://"
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss"):
        raise ValueError(f"PARLAY_REDIS_URL must be redis:// or rediss://, not {redis_url!r}")
    return f"async+{scheme}://{rest}"


class _PerSecond(RateLimitItemPerSecond):
    """A per-second limit whose window key leaves out the amount.

    ``limits`` puts the amount in the key, so an admin changing ``rateLimitPerSecond`` would start
    an empty window and let a second burst through. Keyed by account and family only, the new
    limit applies at once to the requests already counted in the current second.
    """

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return "/".join([self.namespace, *(str(i) for i in identifiers), "second"])


class LimitsRateLimiter:
    def __init__(self, url: str, *, key_prefix: str = "parlay") -> None:
        if "redis" in url:
            storage = storage_from_string(url, implementation="redispy", key_prefix=key_prefix)
        else:
            storage = storage_from_string(url)
        if not isinstance(storage, Storage):
            raise TypeError(f"{url!r} is not an async limits storage")
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, family: ApiFamily, account_id: str, per_second: int) -> int | None:
        item = _PerSecond(per_second)
        if await self._strategy.hit(item, family.value, account_id):
            return None
        stats = await self._strategy.get_window_stats(item, family.value, account_id)
        # Never beyond the window: Redis hands timestamps back rounded (Lua's %.14g), which
        # could otherwise make a one-second window ask for two.
        return max(1, min(item.get_expiry(), math.ceil(stats.reset_time - time.time())))

    async def close(self) -> None:
        """Nothing to release: limits' storages keep no resource that outlives the process."""
