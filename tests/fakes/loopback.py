"""A small HTTP/1.1 server on 127.0.0.1 for provider fakes (FCM, push proxy).

Raw asyncio + ``h11`` rather than an ASGI server so that a fake controls the connection itself:
it can answer late, or drop the connection without any answer, as real networks do. Optional
TLS with a ``trustme`` test CA. Also the shared, movable clock the fakes and clients read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h11
import httpx
import trustme

from parlay.lib.http.h1post import Http1Poster, HttpError
from parlay.lib.http.urls import UrlPolicy

# The provider fakes listen on 127.0.0.1: clients that talk to them run with the URL policy
# lifted, as with PARLAY_ALLOW_PRIVATE_URLS=true.
LOOPBACK_URLS = UrlPolicy(allow_private=True)


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, doc: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        body = json.dumps(doc).encode()
        return cls(status, body, (("content-type", "application/json; charset=UTF-8"), *headers))


# A handler answers a request, or returns None to drop the connection without an answer.
Handler = Callable[[Request], Awaitable[Response | None]]


class ManualClock:
    """Real time plus an offset a test can move: share one between a client (as its
    ``parlay.lib.clock.Clock``) and its fake (as a callable of Unix seconds)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def loopback_tls(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 and the path of the CA bundle that trusts it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    path = directory / "fake-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return context, str(path)


class LoopbackServer:
    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await _read_request(conn, reader)
                if request is None:
                    return
                response = await self._handler(request)
                if response is None:
                    writer.transport.abort()
                    return
                headers = [("content-length", str(len(response.body))), *response.headers]
                writer.write(
                    conn.send(h11.Response(status_code=response.status, headers=headers))
                    + conn.send(h11.Data(data=response.body))
                    + conn.send(h11.EndOfMessage())
                )
                await writer.drain()
                if h11.MUST_CLOSE in (conn.our_state, conn.their_state):
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, ssl.SSLError):
            return
        except asyncio.CancelledError:
            # stop() cancels us; ending quietly keeps asyncio from logging the cancellation.
            return
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            headers = {k.decode().lower(): v.decode() for k, v in head.headers}
            return Request(head.method.decode(), head.target.decode(), headers, bytes(body))
        elif isinstance(event, h11.ConnectionClosed):
            return None


class Http1Transport(httpx.AsyncBaseTransport):
    """An httpx transport that POSTs through Parlay's ``Http1Poster``: what a fake running as a
    process of its own sends its callbacks with at benchmark rates (httpx's own pool manages
    about 90 requests/s with 64 in flight here, the poster thousands)."""

    def __init__(self, max_connections: int = 64) -> None:
        self._poster = Http1Poster(
            LOOPBACK_URLS, ssl.create_default_context(), max_idle=max_connections
        )
        # At most this many requests in flight (the poster itself opens a connection for each).
        self._slots = asyncio.Semaphore(max_connections)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            raise NotImplementedError("the poster only POSTs")
        body = await request.aread()
        skip = {"host", "content-length", "transfer-encoding"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        try:
            async with self._slots:
                answer = await self._poster.post(str(request.url), body, headers, timeout=30.0)
        except HttpError as exc:
            raise httpx.TransportError(exc.kind) from exc
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

    async def aclose(self) -> None:
        await self._poster.aclose()
