"""The live streams of agents and consumers: a hub subscription, as server-sent events, that
ends after a bounded time.

A stream ends after ``PARLAY_EVENTS_MAX_SECONDS``: the client reconnects (an EventSource does so
by itself), which checks its credentials again (a revoked login or an expired consumer JWT
stops receiving) and lets a load balancer spread long-lived streams over the replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import Request
from fastapi.responses import StreamingResponse

from parlay.bootstrap import Container
from parlay.events.hub import Event, Subscription
from parlay.events.sse import event_stream_response


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
async def _bounded(
    subscription: AbstractAsyncContextManager[Subscription], seconds: float
) -> AsyncIterator[Subscription]:
    async with subscription as inner:
        yield _Bounded(inner, seconds)


def live_stream(c: Container, topics: Sequence[str], request: Request) -> StreamingResponse:
    return event_stream_response(
        _bounded(c.hub.subscribe(topics), c.settings.events_max_seconds),
        request,
        keepalive=c.settings.events_keepalive_seconds,
    )
