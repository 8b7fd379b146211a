"""A loopback fake of a brand's webhook receiver: it checks each event's ``X-Parlay-Signature``
the way a careful brand would (``tests.fakes.pushproxy.verify_signature``, written from the
documented format, not with Parlay's code) and records what arrived.

Answers are scripted: ``answers`` is consumed one per request (then ``default``, 200). A request
whose signature does not verify is refused with 401 and recorded in ``refusals``.
``in_thread()`` runs one in a thread of its own, for tests that drive real worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.fakes.loopback import LoopbackServer, Request, Response
from tests.fakes.pushproxy import verify_signature


@dataclass(frozen=True)
class Received:
    event: dict[str, Any]
    raw: bytes
    headers: dict[str, str]


class WebhookReceiver:
    def __init__(self, *, secret: str = "", clock: Callable[[], float] = time.time) -> None:
        self.secret = secret  # set once the subscription is created (its secret is shown then)
        self.clock = clock
        self.server = LoopbackServer(self._handle)
        self.answers: deque[int] = deque()
        self.default = 200
        self.delay_seconds = 0.0  # answer this late (a slow receiver)
        self.received: list[Received] = []  # accepted (2xx) and refused alike, signature good
        self.refusals: list[str] = []

    @property
    def url(self) -> str:
        return f"{self.server.url}/hooks/parlay"

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def ids(self) -> Counter[str]:
        """How many times each event ID arrived."""
        return Counter(r.event["id"] for r in self.received)

    def of_type(self, prefix: str) -> list[dict[str, Any]]:
        return [r.event for r in self.received if r.event["type"].startswith(prefix)]

    async def _handle(self, request: Request) -> Response:
        header = request.headers.get("x-parlay-signature")
        why = (
            "no signature"
            if header is None
            else verify_signature(self.secret, header, request.body, self.clock(), 300)
        )
        if why is not None:
            self.refusals.append(why)
            return Response(401, b"bad signature")
        event = json.loads(request.body)
        if request.headers.get("x-parlay-event-id") != event["id"]:
            self.refusals.append("X-Parlay-Event-Id is not the event's id")
            return Response(400, b"event id header")
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        self.received.append(Received(event, request.body, request.headers))
        status = self.answers.popleft() if self.answers else self.default
        return Response(status, b"")


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(**options)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@contextlib.contextmanager
def in_thread(**options: Any) -> Iterator[WebhookReceiver]:
    """A receiver serving from a thread with its own event loop (for as long as the block runs)."""
    receiver = WebhookReceiver(**options)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(receiver.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
