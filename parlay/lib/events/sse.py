"""Server-sent events: a subscription written as ``text/event-stream``.

A stream can be bounded in time (``bounded``): the client reconnects (an EventSource does so by
itself), which checks its credentials again (a revoked login or an expired consumer JWT stops
receiving) and lets a load balancer spread long-lived streams over the replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from parlay.lib.events.hub import Event, Subscription

DEFAULT_KEEPALIVE_SECONDS = 15.0
KEEPALIVE = b": keepalive\n\n"

# Proxies must pass each event on at once (nginx buffers unless told) and never cache a stream.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _field(value: object) -> str | None:
    """A value fit for an ``id:`` or ``event:`` line (a line break would end the field)."""
    text = str(value)
    if not text or any(c in text for c in "\r\n\0"):
        return None
    return text


def format_event(event: Event) -> bytes:
    """One SSE message: ``id`` (the event id), ``event`` (its type), ``data`` (compact JSON).

    JSON escapes every line break, so ``data`` is always a single line.
    """
    lines = []
    if (event_id := _field(event.get("eventId", ""))) is not None:
        lines.append(f"id: {event_id}")
    if (event_type := _field(event.get("type", ""))) is not None:
        lines.append(f"event: {event_type}")
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


async def _next(events: AsyncIterator[Event]) -> Event | None:
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None


async def sse_stream(
    subscription: Subscription,
    request: Request,
    *,
    keepalive: float = DEFAULT_KEEPALIVE_SECONDS,
) -> AsyncIterator[bytes]:
    """The subscription's events as SSE bytes, with a comment every ``keepalive`` seconds of
    silence (idle proxies and load balancers would otherwise cut the stream). Ends when the
    client disconnects or the subscription ends (its hub closed)."""
    events = aiter(subscription)
    # The wait for the next event outlives a keepalive: waiting on it again, never cancelling
    # it, loses no event.
    pending: asyncio.Task[Event | None] | None = None
    try:
        while not await request.is_disconnected():
            if pending is None:
                pending = asyncio.ensure_future(_next(events))
            done, _ = await asyncio.wait({pending}, timeout=keepalive)
            if not done:
                yield KEEPALIVE
                continue
            event, pending = pending.result(), None
            if event is None:
                return
            yield format_event(event)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


class EventStreamResponse(StreamingResponse):
    """Opens the subscription before the response headers go out, and closes it when the
    stream ends however it ends (a client that goes away included).

    So a client may load state once the stream is open (EventSource ``onopen``): every change
    committed after that reaches it as an event.
    """

    def __init__(
        self,
        subscription: AbstractAsyncContextManager[Subscription],
        request: Request,
        *,
        keepalive: float = DEFAULT_KEEPALIVE_SECONDS,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._subscription = subscription
        self._request = request
        self._keepalive = keepalive
        self._opened: Subscription | None = None
        self._body = self._stream()
        super().__init__(
            self._body,
            media_type="text/event-stream",
            headers={**STREAM_HEADERS, **(headers or {})},
        )

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        assert self._opened is not None
        async for chunk in sse_stream(self._opened, self._request, keepalive=self._keepalive):
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self._subscription as opened:
            self._opened = opened
            try:
                await super().__call__(scope, receive, send)
            finally:
                await self._body.aclose()


def event_stream_response(
    subscription: AbstractAsyncContextManager[Subscription],
    request: Request,
    *,
    keepalive: float = DEFAULT_KEEPALIVE_SECONDS,
) -> StreamingResponse:
    """The response of a live-stream endpoint: ``return event_stream_response(hub.subscribe(
    topics), request)``. Pass the subscription unopened: the response opens and closes it."""
    return EventStreamResponse(subscription, request, keepalive=keepalive)


class _Bounded:
    """A subscription that ends at a deadline."""

    def __init__(self, inner: Subscription, seconds: float) -> None:
        self._inner = inner
        self._deadline = asyncio.get_running_loop().time() + seconds

    def _left(self) -> float:
        return self._deadline - asyncio.get_running_loop().time()

    async def get(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        left = self._left()
        if left <= 0:
            return None
        return await self._inner.get(left if timeout is None else min(timeout, left))

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (left := self._left()) > 0:
            event = await self._inner.get(left)
            if event is None:
                return  # the deadline passed, or the subscription ended (its hub closed)
            yield event


@asynccontextmanager
async def bounded(
    subscription: AbstractAsyncContextManager[Subscription], seconds: float
) -> AsyncIterator[Subscription]:
    async with subscription as inner:
        yield _Bounded(inner, seconds)


# The last event of a stream closed to make room for a newer one of the same subscriber: the
# client should not reconnect (its newer stream has taken over).
REPLACED = "stream.replaced"


class _Replaceable:
    """A subscription that ends, with one ``stream.replaced`` event, when ``replace()`` is
    called (by ``StreamSlots``, for a newer stream of the same subscriber)."""

    def __init__(self, inner: Subscription) -> None:
        self._inner = inner
        self._replaced = asyncio.Event()
        self._told = False

    def replace(self) -> None:
        self._replaced.set()

    def _last(self) -> Event | None:
        if self._told:
            return None
        self._told = True
        return {"type": REPLACED, "reason": "a newer stream of the same subscriber opened"}

    async def get(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        if self._replaced.is_set():
            return self._last()
        getter = asyncio.ensure_future(self._inner.get(timeout))
        replaced = asyncio.ensure_future(self._replaced.wait())
        done, _ = await asyncio.wait({getter, replaced}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            replaced.cancel()
            return getter.result()
        # Cancelling a waiting get takes nothing from the buffer: no event is lost to it.
        getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await getter
        return self._last()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.get()) is not None:
            yield event


class StreamSlots:
    """At most ``per_subscriber`` open streams per subscriber (a consumer, an agent) in this
    process. Opening one more ends the oldest with ``stream.replaced``: a client that lost a
    connection without noticing reconnects at once, and one that opens streams in a loop holds
    a bounded number. The count is per process (it bounds this process's memory)."""

    def __init__(self, per_subscriber: int) -> None:
        if per_subscriber < 1:
            raise ValueError("at least one stream per subscriber")
        self._per_subscriber = per_subscriber
        self._open: dict[str, list[_Replaceable]] = {}

    def open_streams(self, subscriber: str) -> int:
        return len(self._open.get(subscriber, ()))

    @asynccontextmanager
    async def hold(
        self, subscriber: str, subscription: AbstractAsyncContextManager[Subscription]
    ) -> AsyncIterator[Subscription]:
        async with subscription as inner:
            slot = _Replaceable(inner)
            streams = self._open.setdefault(subscriber, [])
            while len(streams) >= self._per_subscriber:
                streams.pop(0).replace()
            streams.append(slot)
            try:
                yield slot
            finally:
                if slot in streams:
                    streams.remove(slot)
                if not streams:
                    self._open.pop(subscriber, None)
