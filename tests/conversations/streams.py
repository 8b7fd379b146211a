"""Reading live streams in tests: a real HTTP server on loopback (an in-process ASGI transport
would buffer a stream until it ends) and a server-sent-events reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from parlay.app import create_app
from parlay.bootstrap import Container
from tests.servers import free_port

EVENT_TIMEOUT = 10.0


@asynccontextmanager
async def serving(container: Container) -> AsyncIterator[str]:
    """Serve the app of ``container`` on 127.0.0.1; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(container.services),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class EventStream:
    """One open ``text/event-stream`` response; ``next`` returns the next event's data."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.seen: list[dict[str, Any]] = []

    async def _event(self) -> dict[str, Any]:
        data: list[str] = []
        async for line in self._lines:
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                event: dict[str, Any] = json.loads("\n".join(data))
                return event
        raise AssertionError("the stream ended")

    async def next(self, type: str, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:
        """The next event of ``type`` (others are kept in ``seen``)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._event()
                self.seen.append(event)
                if event.get("type") == type:
                    return event


@asynccontextmanager
async def event_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> AsyncIterator[EventStream]:
    """Open a stream; when this returns, the server is subscribed (events from now on arrive).
    Its answer may take as long as an event (the client's default of 5 s failed once in CI,
    with the other test worker loading PostgreSQL with a 100,000-consumer campaign)."""
    async with client.stream("GET", url, headers=headers, timeout=EVENT_TIMEOUT) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response)
