"""Presence: a key is present while any stream holds it; with Redis, in every process, and no
longer than a few refresh periods after its process died; when Redis is down, nobody is
present (pushes go out) and the failure is counted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from parlay.lib.events.presence import MemoryPresence, Presence, RedisPresence
from tests.ratelimit.conftest import redis_reachable

pytestmark = pytest.mark.anyio


def redis_presence(
    prefix: str, *, refresh_seconds: float = 15.0, ttl_seconds: float = 45.0
) -> RedisPresence:
    """Presence on Redis under its own prefix (test runs share the server)."""
    return RedisPresence(
        redis_reachable(), prefix=prefix, refresh_seconds=refresh_seconds, ttl_seconds=ttl_seconds
    )


@pytest.fixture
def prefix() -> str:
    return f"parlay:test:{uuid.uuid4().hex[:12]}:presence:"


@pytest.fixture(params=["memory", "redis"])
async def presence(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Presence]:
    made: Presence = MemoryPresence() if request.param == "memory" else redis_presence(prefix)
    yield made
    await made.close()


async def test_a_key_is_present_while_any_of_its_holders_is_open(presence: Presence) -> None:
    async with presence.hold("phone"):
        async with presence.hold("phone"):  # the same device reconnected: two streams at once
            assert await presence.present(["phone", "tablet"]) == {"phone"}
        assert await presence.present(["phone", "tablet"]) == {"phone"}
    assert await presence.present(["phone", "tablet"]) == set()


async def test_redis_presence_is_shared_between_processes_and_lapses_when_one_dies(
    prefix: str,
) -> None:
    api = redis_presence(prefix, refresh_seconds=0.1, ttl_seconds=0.3)  # holds the stream
    worker = redis_presence(prefix)  # the dispatcher of another process asks
    try:
        held = api.hold("phone")
        await held.__aenter__()
        assert await worker.present(["phone"]) == {"phone"}
        await asyncio.sleep(0.5)  # past the TTL: still there, the holder refreshes it
        assert await worker.present(["phone"]) == {"phone"}

        await api.close()  # the process dies: nobody refreshes, nobody releases
        await asyncio.sleep(0.4)
        assert await worker.present(["phone"]) == set()
        await held.__aexit__(None, None, None)
    finally:
        await worker.close()


async def test_presence_fails_open_and_counts_when_redis_is_unreachable() -> None:
    errors: list[str] = []
    down = RedisPresence(
        "redis://127.0.0.1:1/0", timeout=0.2, on_error=lambda: errors.append("error")
    )
    try:
        async with down.hold("phone"):  # the stream opens all the same
            assert await down.present(["phone"]) == set()  # nobody present: the push goes
    finally:
        await down.close()
    assert len(errors) == 3  # the hold, the lookup, the release
