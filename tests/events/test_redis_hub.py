"""What only the Redis hub does: fan-out across processes, one Redis subscription per channel
and process, surviving a dropped connection, and failing loudly only to publishers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from parlay.lib.events.hub import OVERFLOW, MemoryHub, RedisHub, build_hub
from tests.events.conftest import eventually, next_event, redis_hub
from tests.ratelimit.conftest import redis_reachable

pytestmark = pytest.mark.anyio


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    """A plain client for looking at (and breaking) the hubs' connections."""
    client = aioredis.Redis.from_url(redis_reachable())
    yield client
    await client.aclose()


async def numsub(admin: aioredis.Redis, channel: str) -> int:
    [(_, count)] = await admin.pubsub_numsub(channel)
    return int(count)


async def test_event_published_in_one_process_reaches_subscribers_in_another(prefix: str) -> None:
    api, worker = redis_hub(prefix), redis_hub(prefix)
    try:
        async with worker.subscribe(["acme:agent:7"]) as agent:
            await api.publish(["acme:agent:7"], {"type": "conversation.assigned"})
            assert (await next_event(agent))["type"] == "conversation.assigned"
    finally:
        await api.close()
        await worker.close()


async def test_a_process_subscribes_each_channel_once(prefix: str, admin: aioredis.Redis) -> None:
    hub = redis_hub(prefix)
    channel = f"{prefix}acme:skill:sales"
    try:
        async with hub.subscribe(["acme:skill:sales"]), hub.subscribe(["acme:skill:sales"]):
            assert await numsub(admin, channel) == 1
        # The last local subscriber left: the UNSUBSCRIBE follows in the background.

        async def unsubscribed() -> bool:
            return await numsub(admin, channel) == 0

        await eventually(unsubscribed)
    finally:
        await hub.close()


async def test_listener_reconnects_and_tells_subscribers_to_reload(
    prefix: str, admin: aioredis.Redis
) -> None:
    name = f"parlay-events-test-{uuid.uuid4().hex[:8]}"
    hub = redis_hub(prefix, client_name=name)
    try:
        async with hub.subscribe(["t"]) as subscription:
            await hub.publish(["t"], {"type": "x", "n": 1})
            assert (await next_event(subscription))["n"] == 1
            [connection] = [c for c in await admin.client_list(_type="pubsub") if c["name"] == name]
            await admin.client_kill_filter(_id=connection["id"])

            # Whatever was published meanwhile is lost: the subscriber is told to reload, and
            # only once Redis has its channels again, so everything after the notice arrives.
            assert await next_event(subscription) == {"type": OVERFLOW, "reason": "reconnect"}
            await hub.publish(["t"], {"type": "x", "n": 2})
            assert (await next_event(subscription))["n"] == 2
    finally:
        await hub.close()


async def test_publishing_raises_while_redis_is_down_and_subscribing_does_not() -> None:
    hub = RedisHub("redis://127.0.0.1:1/0", timeout=1, confirm_timeout=0.05, backoff=(0.01, 0.1))
    try:
        with pytest.raises(aioredis.ConnectionError):
            await hub.publish(["t"], {"type": "x"})
        # A stream may open (its client loads state from the database); it hears nothing yet.
        async with hub.subscribe(["t"]) as subscription:
            assert await subscription.get(timeout=0.01) is None
    finally:
        await hub.close()


async def test_close_stops_the_listener_and_leaves_no_task(prefix: str) -> None:
    hub = redis_hub(prefix)
    async with hub.subscribe(["t"]) as subscription:
        await hub.publish(["t"], {"type": "x"})
        await next_event(subscription)
    await hub.close()
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert [t.get_name() for t in leftovers if "parlay" in t.get_name()] == []
    with pytest.raises(RuntimeError):
        await hub.start()


def test_build_hub_picks_redis_only_when_a_url_is_set() -> None:
    assert isinstance(build_hub(None), MemoryHub)
    assert isinstance(build_hub("redis://127.0.0.1:6379/0"), RedisHub)
    with pytest.raises(ValueError, match="PARLAY_REDIS_URL"):
        build_hub("http://127.0.0.1:6379")
