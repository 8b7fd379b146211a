"""Both hubs keep the same promises: the in-process one and the Redis one run the same tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from parlay.lib.events.hub import OVERFLOW, MemoryHub, RedisHub
from tests.events.conftest import BUFFER, WAIT, next_event, redis_hub

pytestmark = pytest.mark.anyio

Hub = MemoryHub | RedisHub


async def test_subscriber_receives_what_is_published_after_it_subscribed(hub: Hub) -> None:
    async with hub.subscribe(["acme:agent:1"]) as subscription:
        await hub.publish(["acme:agent:1"], {"type": "message.created", "text": "Hello"})
        event = await next_event(subscription)
    assert event["type"] == "message.created"
    assert event["text"] == "Hello"
    assert isinstance(event["eventId"], str)


async def test_publisher_may_choose_the_event_id(hub: Hub) -> None:
    async with hub.subscribe(["t"]) as subscription:
        await hub.publish(["t"], {"type": "x", "eventId": "msg-42"})
        assert (await next_event(subscription))["eventId"] == "msg-42"


async def test_events_keep_their_publishing_order(hub: Hub) -> None:
    async with hub.subscribe(["t"]) as subscription:
        for n in range(BUFFER):
            await hub.publish(["t"], {"type": "x", "n": n})
        assert [(await next_event(subscription))["n"] for _ in range(BUFFER)] == list(range(BUFFER))


async def test_event_published_to_two_topics_reaches_a_subscriber_of_both_once(hub: Hub) -> None:
    async with (
        hub.subscribe(["agent", "skill"]) as both,
        hub.subscribe(["skill"]) as skill_only,
    ):
        await hub.publish(["agent", "skill"], {"type": "x", "n": 1})
        await hub.publish(["agent"], {"type": "x", "n": 2})
        await hub.publish(["skill"], {"type": "x", "n": 3})
        # Had the first event come twice, the second read would show it again.
        assert [(await next_event(both))["n"] for _ in range(3)] == [1, 2, 3]
        assert [(await next_event(skill_only))["n"] for _ in range(2)] == [1, 3]


async def test_topics_are_isolated(hub: Hub) -> None:
    async with hub.subscribe(["acme:consumer:c:1"]) as mine:
        await hub.publish(["acme:consumer:c:2"], {"type": "x", "for": "someone else"})
        await hub.publish(["other:consumer:c:1"], {"type": "x", "for": "another account"})
        await hub.publish(["acme:consumer:c:1"], {"type": "x", "for": "me"})
        assert (await next_event(mine))["for"] == "me"


async def test_every_one_of_many_subscribers_gets_every_event(hub: Hub) -> None:
    async with asyncio.TaskGroup() as group:
        ready = asyncio.Event()
        joined: list[int] = []
        received: dict[int, list[int]] = {}

        async def listen(n: int) -> None:
            async with hub.subscribe(["busy"] if n % 2 else ["busy", f"own:{n}"]) as sub:
                joined.append(n)
                if len(joined) == 40:
                    ready.set()
                received[n] = [(await next_event(sub))["n"] for _ in range(3)]

        for n in range(40):
            group.create_task(listen(n))
        async with asyncio.timeout(10):
            await ready.wait()
        for n in range(3):
            await hub.publish(["busy"], {"type": "x", "n": n})
    assert received == {n: [0, 1, 2] for n in range(40)}


async def test_leaving_the_context_unsubscribes(hub: Hub) -> None:
    async with hub.subscribe(["t"]) as first, hub.subscribe(["t", "u"]) as second:
        assert hub.subscribers("t") == 2
    assert hub.subscribers("t") == hub.subscribers("u") == 0
    # Both have ended: they return nothing at once, and iterating them stops.
    assert await first.get(timeout=10) is None
    assert [event async for event in second] == []
    async with hub.subscribe(["t"]) as third:
        await hub.publish(["t"], {"type": "x", "n": 1})
        assert (await next_event(third))["n"] == 1


async def test_slow_subscriber_gets_one_overflow_and_holds_up_nobody(hub: Hub) -> None:
    async with hub.subscribe(["t"]) as slow, hub.subscribe(["t"]) as fast:
        # The fast reader keeps up and gets everything. Once it has an event, so has the slow
        # one's buffer (one publisher, or one Redis listener, delivers to both in turn).
        for n in range(BUFFER + 3):
            await hub.publish(["t"], {"type": "x", "n": n})
            assert (await next_event(fast))["n"] == n
        overflow = await next_event(slow)
        assert overflow == {"type": OVERFLOW, "reason": "buffer"}
        # Having taken the notice (and reloaded), the slow reader hears new events again.
        await hub.publish(["t"], {"type": "x", "n": "after"})
        assert (await next_event(slow))["n"] == "after"


async def test_events_must_be_json(hub: Hub) -> None:
    async with hub.subscribe(["t"]):
        with pytest.raises(TypeError):
            await hub.publish(["t"], {"type": "x", "at": datetime.now(UTC)})


async def test_subscribers_share_no_dict_with_the_publisher(hub: Hub) -> None:
    event = {"type": "x", "items": [1]}
    async with hub.subscribe(["t"]) as subscription:
        await hub.publish(["t"], event)
        received = await next_event(subscription)
    assert received is not event
    assert "eventId" not in event


async def test_closing_the_hub_ends_open_subscriptions(hub: Hub) -> None:
    async with hub.subscribe(["t"]) as subscription:
        await hub.close()
        assert [event async for event in subscription] == []
    with pytest.raises(RuntimeError):
        async with hub.subscribe(["t"]):
            pass


async def test_listened_names_the_topics_with_a_subscriber_in_any_process(
    hub: Hub, prefix: str
) -> None:
    # On Redis the subscriber is another hub (as in another process) on the same prefix.
    other = hub if isinstance(hub, MemoryHub) else redis_hub(prefix)
    await other.start()
    try:
        assert await hub.listened(["heard", "unheard"]) == set()
        async with other.subscribe(["heard"]):
            assert await hub.listened(["heard", "unheard"]) == {"heard"}
        async with asyncio.timeout(WAIT):  # Redis is told of the unsubscription in the background
            while await hub.listened(["heard"]):
                await asyncio.sleep(0.01)
        assert await hub.listened([]) == set()
    finally:
        if other is not hub:
            await other.close()
