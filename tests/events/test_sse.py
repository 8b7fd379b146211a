"""Server-sent events: the wire format, keepalives, the end of a stream, and the response that
opens its subscription before the client sees the headers."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest
from starlette.requests import Request
from starlette.types import Message

from parlay.lib.events.hub import MemoryHub, RedisHub
from parlay.lib.events.sse import (
    KEEPALIVE,
    REPLACED,
    StreamSlots,
    event_stream_response,
    format_event,
    sse_stream,
)
from tests.events.conftest import WAIT

pytestmark = pytest.mark.anyio

Hub = MemoryHub | RedisHub


class Client:
    """The ASGI side of one streaming request; ``leave()`` is the client hanging up."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.sent: asyncio.Queue[Message] = asyncio.Queue()

    scope: ClassVar[dict[str, Any]] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "path": "/events",
        "query_string": b"",
        "headers": [],
    }

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        await self.sent.put(message)

    def leave(self) -> None:
        self.gone.set()

    def request(self) -> Request:
        return Request(self.scope, self.receive)

    async def next_sent(self) -> Message:
        async with asyncio.timeout(WAIT):
            return await self.sent.get()


def test_an_event_is_one_sse_message_of_compact_json() -> None:
    event = {"type": "message.created", "eventId": "e1", "text": "two\nlines é"}
    assert format_event(event) == (
        b"id: e1\nevent: message.created\n"
        b'data: {"type":"message.created","eventId":"e1","text":"two\\nlines \xc3\xa9"}\n\n'
    )


def test_a_field_that_would_break_the_line_is_left_out() -> None:
    assert format_event({"type": "bad\ntype", "eventId": "x\ry"}).startswith(b"data: ")


async def test_stream_sends_events_and_keepalives_until_the_client_leaves(hub: Hub) -> None:
    client = Client()
    async with hub.subscribe(["t"]) as subscription:
        stream = sse_stream(subscription, client.request(), keepalive=0.01)
        # Nothing published: the stream says it is alive.
        assert await anext(stream) == KEEPALIVE
        await hub.publish(["t"], {"type": "x", "eventId": "e1"})
        chunk = await anext(stream)
        while chunk == KEEPALIVE:
            chunk = await anext(stream)
        assert chunk == b'id: e1\nevent: x\ndata: {"type":"x","eventId":"e1"}\n\n'
        client.leave()

        async def drain() -> None:
            while True:
                await anext(stream)

        with pytest.raises(StopAsyncIteration):
            await drain()


async def test_stream_ends_when_its_subscription_ends(hub: Hub) -> None:
    client = Client()
    async with hub.subscribe(["t"]) as subscription:
        stream = sse_stream(subscription, client.request(), keepalive=WAIT)
        waiting = asyncio.ensure_future(anext(stream))
        await hub.close()
        with pytest.raises(StopAsyncIteration):
            async with asyncio.timeout(WAIT):
                await waiting


async def test_response_subscribes_before_the_headers_and_unsubscribes_when_the_client_leaves(
    hub: Hub,
) -> None:
    client = Client()
    response = event_stream_response(hub.subscribe(["t"]), client.request(), keepalive=WAIT)
    serving = asyncio.ensure_future(response(client.scope, client.receive, client.send))

    start = await client.next_sent()
    assert start["type"] == "http.response.start"
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    # The client has its headers: from now on nothing published is missed.
    assert hub.subscribers("t") == 1
    await hub.publish(["t"], {"type": "x", "n": 1})
    body = await client.next_sent()
    data = body["body"].decode().split("data: ", 1)[1]
    assert json.loads(data)["n"] == 1

    client.leave()
    async with asyncio.timeout(WAIT):
        await serving
    assert hub.subscribers("t") == 0


async def test_a_subscriber_past_its_stream_limit_replaces_its_oldest_stream() -> None:
    hub = MemoryHub()
    slots = StreamSlots(per_subscriber=2)
    async with (
        slots.hold("consumer:acme/c-1", hub.subscribe(["t"])) as oldest,
        slots.hold("consumer:acme/c-1", hub.subscribe(["t"])) as older,
        slots.hold("consumer:acme/c-2", hub.subscribe(["t"])) as bystander,
    ):
        waiting = asyncio.ensure_future(oldest.get(WAIT))
        async with slots.hold("consumer:acme/c-1", hub.subscribe(["t"])) as newest:
            async with asyncio.timeout(WAIT):
                assert (await waiting or {}).get("type") == REPLACED
            assert await oldest.get(WAIT) is None  # and then it ends
            assert slots.open_streams("consumer:acme/c-1") == 2
            await hub.publish(["t"], {"type": "message"})
            for open_stream in (older, newest, bystander):
                assert (await open_stream.get(WAIT) or {}).get("type") == "message"
        assert slots.open_streams("consumer:acme/c-1") == 1
    assert slots.open_streams("consumer:acme/c-1") == 0
