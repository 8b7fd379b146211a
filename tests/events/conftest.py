"""Fixtures of the live-event tests: every hub test runs on the in-process hub and on Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from parlay.lib.events.hub import Event, MemoryHub, RedisHub, Subscription
from tests.ratelimit.conftest import redis_reachable

# Generous: only a broken hub ever waits this long.
WAIT = 10.0
BUFFER = 5


def redis_hub(prefix: str, **options: Any) -> RedisHub:
    """A hub on its own channel prefix (test runs share the Redis server) that reconnects
    quickly. Redis must be there: a skip, or a failure under CI=true, otherwise."""
    return RedisHub(
        redis_reachable(), prefix=prefix, buffer_size=BUFFER, backoff=(0.01, 0.1), **options
    )


@pytest.fixture
def prefix() -> str:
    return f"parlay:test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["memory", "redis"])
async def hub(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[MemoryHub | RedisHub]:
    if request.param == "memory":
        made: MemoryHub | RedisHub = MemoryHub(buffer_size=BUFFER)
    else:
        made = redis_hub(prefix)
    await made.start()
    yield made
    await made.close()


async def next_event(subscription: Subscription) -> Event:
    event = await subscription.get(timeout=WAIT)
    assert event is not None, "no event arrived"
    return event


async def eventually(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait (polling) until the condition holds; fail after ``WAIT`` seconds."""
    async with asyncio.timeout(WAIT):
        while not await condition():
            await asyncio.sleep(0.01)
