"""Presence: which keys are held right now, by an open live stream in any process.

A live stream that says which device holds it marks that device present for as long as it is
open (``hold``); the dispatcher asks, at send time, which devices are present (``present``) and
pushes to the others. This module knows only opaque keys: what a key names is the callers'
business.

``MemoryPresence`` serves one process. With ``PARLAY_REDIS_URL`` set, ``RedisPresence`` shares
presence between processes: one sorted set per key whose members are the holders (one per open
stream) scored by when their hold expires. Each process refreshes the holds of its own streams
every ``refresh_seconds`` in one pipeline, and a holder that stops refreshing (its process
crashed) counts as gone once its score is past, ``ttl_seconds`` later; the key itself expires
too. A stream that ends removes its holder at once.

Presence fails open: when Redis cannot be reached, ``present`` answers "nobody" (the push goes
out: a notification twice is better than an answer lost) and ``hold`` carries on without it;
both log and tell ``on_error`` (the metrics count it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from parlay.lib.events.hub import Subscription
from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.lib.events.presence")

DEFAULT_KEY_PREFIX = "parlay:presence:"


class Presence(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """``key`` is present while the block runs (several holders of one key may overlap)."""
        ...

    async def present(self, keys: Collection[str]) -> set[str]:
        """Which of ``keys`` are held now, in any process. Never raises: on an error, none."""
        ...

    async def close(self) -> None: ...


class MemoryPresence:
    """One process: a count of holders per key."""

    def __init__(self) -> None:
        self._holders: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        self._holders[key] += 1
        try:
            yield
        finally:
            self._holders[key] -= 1
            if self._holders[key] <= 0:
                del self._holders[key]

    async def present(self, keys: Collection[str]) -> set[str]:
        return {key for key in keys if self._holders.get(key, 0) > 0}

    async def close(self) -> None:
        self._holders.clear()


class RedisPresence:
    """Many processes: presence in Redis (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_KEY_PREFIX,
        refresh_seconds: float = 15.0,
        ttl_seconds: float = 45.0,
        timeout: float = 1.0,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        if ttl_seconds <= refresh_seconds:
            raise ValueError("a hold must outlive the time between two refreshes")
        self._prefix = prefix
        self._refresh = refresh_seconds
        self._ttl = ttl_seconds
        self._on_error = on_error
        # Connects lazily; one immediate retry covers a pooled connection Redis has closed.
        self._redis = aioredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )
        self._held: dict[str, str] = {}  # holder token -> Redis key, the streams of this process
        self._refresher: asyncio.Task[None] | None = None
        self._closed = False

    def _key(self, key: str) -> str:
        return self._prefix + key

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        if self._closed:  # shutting down: the stream ends anyway
            yield
            return
        token, redis_key = uuid.uuid4().hex, self._key(key)
        self._held[token] = redis_key
        self._ensure_refresher()
        await self._write({token: redis_key}, "hold")
        try:
            yield
        finally:
            self._held.pop(token, None)
            if not self._closed:
                await self._release(token, redis_key)

    async def present(self, keys: Collection[str]) -> set[str]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return set()
        now = time.time()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zcount(self._key(key), f"({now}", "+inf")
                counts = await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            self._failed("present", exc)
            return set()
        return {key for key, count in zip(keys, counts, strict=True) if count}

    async def close(self) -> None:
        """Stops refreshing (holds still open expire after ``ttl_seconds``, as when a process
        dies) and closes the connection."""
        self._closed = True
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await self._redis.aclose()

    # --- writing ----------------------------------------------------------------------------

    async def _write(self, holds: dict[str, str], what: str) -> None:
        """Each holder's expiry moves to now + ttl; its key lives as long; expired holders of
        the same keys are dropped."""
        if not holds:
            return
        now = time.time()
        expires = now + self._ttl
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for token, redis_key in holds.items():
                    pipe.zadd(redis_key, {token: expires})
                    pipe.zremrangebyscore(redis_key, "-inf", now)
                    pipe.pexpire(redis_key, int(self._ttl * 1000))
                await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            self._failed(what, exc)

    async def _release(self, token: str, redis_key: str) -> None:
        try:
            await self._redis.zrem(redis_key, token)
        except (aioredis.RedisError, OSError) as exc:
            self._failed("release", exc)  # the holder expires with its score

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(
                self._refresh_loop(), name="parlay-presence-refresher"
            )

    async def _refresh_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._refresh)
            await self._write(dict(self._held), "refresh")

    def _failed(self, what: str, exc: Exception) -> None:
        log.warning("presence: Redis failed, pushes go out", op=what, error=str(exc) or repr(exc))
        if self._on_error is not None:
            self._on_error()


@asynccontextmanager
async def present_while(
    presence: Presence, key: str, subscription: AbstractAsyncContextManager[Subscription]
) -> AsyncIterator[Subscription]:
    """A live stream's subscription that marks ``key`` present while it is open: present once
    events reach it, absent before it stops hearing them."""
    async with subscription as inner, presence.hold(key):
        yield inner


def build_presence(
    redis_url: str | None,
    *,
    refresh_seconds: float,
    on_error: Callable[[], None] | None = None,
) -> Presence:
    """Redis when ``PARLAY_REDIS_URL`` is set (presence crosses processes), else in memory. A
    hold is refreshed every ``refresh_seconds`` (the streams' keep-alive period) and lapses
    three periods after its process stopped refreshing it."""
    if not redis_url:
        return MemoryPresence()
    return RedisPresence(
        redis_url,
        refresh_seconds=refresh_seconds,
        ttl_seconds=3 * refresh_seconds,
        on_error=on_error,
    )
