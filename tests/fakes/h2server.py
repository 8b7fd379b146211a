"""A loopback HTTPS server for provider fakes that speaks HTTP/2 (ALPN ``h2``) and HTTP/1.1.

Raw asyncio with the ``h2`` and ``h11`` state machines, so a fake controls its connections: it can
answer late, drop a connection without an answer, send GOAWAY, or limit concurrent streams.
Clients that offer ``h2`` get HTTP/2 (one request per stream, many at once); clients that do not
(httpx without ``http2=True``) get HTTP/1.1, one request at a time per connection.

The handler answers a request with a ``Response``, with ``None`` (drop the connection, no
answer), with ``GOAWAY`` (HTTP/2 only: GOAWAY without answering this stream; HTTP/1.1 clients
are dropped), or with an awaitable of one of those (a slow answer). A handler that answers at
once is called inside ``data_received``, so a fast fake costs no task per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h11
import trustme

from tests.fakes.loopback import Request, Response


class _GoAway:
    """The handler's answer "send GOAWAY and close, without answering this request"."""


GOAWAY = _GoAway()
Answer = Response | _GoAway | None
Handler = Callable[[Request], Answer | Awaitable[Answer]]


@dataclass
class ServerStats:
    connections: int = 0  # TLS connections accepted so far
    http2_connections: int = 0
    peak_streams: int = 0  # most HTTP/2 requests ever in flight on one connection


def server_tls(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A server context for 127.0.0.1 (ALPN h2 and http/1.1) and the CA bundle that trusts it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    path = directory / "fake-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return context, str(path)


class H2Server:
    """Serve ``handler`` on 127.0.0.1 over TLS; ``ssl_context`` None makes a fresh test CA
    (its bundle is ``ca_bundle``)."""

    def __init__(
        self,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_bundle: str = "",
        max_concurrent_streams: int = 1000,
    ) -> None:
        self.handler = handler
        self.max_concurrent_streams = max_concurrent_streams
        self.stats = ServerStats()
        # The 1-based number of the connection whose request the handler is being called for
        # (valid during the call itself, not in an awaitable it returns).
        self.current_connection = 0
        self.ca_bundle = ca_bundle
        self.port = 0
        self._ssl = ssl_context
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._server: asyncio.AbstractServer | None = None
        self._live: set[_Connection] = set()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._ssl is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="h2-fake-")
            self._ssl, self.ca_bundle = server_tls(Path(self._workdir.name))
        self._ssl.set_alpn_protocols(["h2", "http/1.1"])
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, ssl=self._ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and abort every open connection (a later ``start`` serves again)."""
        if self._server is not None:
            self._server.close()
            for connection in list(self._live):
                connection.abort()
            await self._server.wait_closed()
            self._server = None

    def cleanup(self) -> None:
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/2 or HTTP/1.1 by ALPN, between the socket and the handler."""

    def __init__(self, server: H2Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.h2: h2.connection.H2Connection | None = None
        self.h11: h11.Connection | None = None
        self.streams: dict[int, _Stream] = {}
        self.in_flight = 0
        self.busy = False  # HTTP/1.1: a request is being answered
        self.tasks: set[asyncio.Task[None]] = set()
        self.number = 0

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server._live.add(self)
        self.server.stats.connections += 1
        self.number = self.server.stats.connections
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn == "h2":
            self.server.stats.http2_connections += 1
            self.h2 = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
            )
            settings = {
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_concurrent_streams
            }
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)
            self.h2.initiate_connection()
            self.flush()
        else:
            self.h11 = h11.Connection(h11.SERVER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._live.discard(self)
        for task in list(self.tasks):
            task.cancel()

    def data_received(self, data: bytes) -> None:
        if self.h2 is not None:
            self._h2_received(data)
        else:
            assert self.h11 is not None
            try:
                self.h11.receive_data(data)
            except h11.RemoteProtocolError:
                self.abort()
                return
            self._h11_next()

    def eof_received(self) -> bool | None:
        if self.h11 is not None:
            with contextlib.suppress(h11.RemoteProtocolError):
                self.h11.receive_data(b"")
        return None

    # --- HTTP/2 -------------------------------------------------------------------------------

    def _h2_received(self, data: bytes) -> None:
        assert self.h2 is not None
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()  # h2 queued a GOAWAY
            self.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = cast(list[tuple[str, str]], event.headers)  # header_encoding=utf-8
                self.streams[event.stream_id] = _Stream(headers)
                self.in_flight += 1
                stats = self.server.stats
                stats.peak_streams = max(stats.peak_streams, self.in_flight)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    self._h2_request(event.stream_id, stream)
            elif isinstance(event, h2.events.StreamReset):
                if self.streams.pop(event.stream_id, None) is not None:
                    self.in_flight -= 1
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.flush()
                self.close()
                return
            if self.transport is None or self.transport.is_closing():
                return
        self.flush()

    def _h2_request(self, stream_id: int, stream: _Stream) -> None:
        pseudo = {name: value for name, value in stream.headers if name.startswith(":")}
        headers = {name.lower(): value for name, value in stream.headers if name[:1] != ":"}
        request = Request(
            pseudo.get(":method", ""), pseudo.get(":path", ""), headers, bytes(stream.body)
        )
        self.server.current_connection = self.number
        answer = self.server.handler(request)
        if inspect.isawaitable(answer):
            self._later(answer, lambda done: self._h2_answer(stream_id, done))
        else:
            self._h2_answer(stream_id, answer)

    def _h2_answer(self, stream_id: int, answer: Answer) -> None:
        assert self.h2 is not None
        if self.transport is None or self.transport.is_closing():
            return
        if answer is None:
            self.abort()
            return
        if isinstance(answer, _GoAway):
            self.h2.close_connection(
                error_code=h2.errors.ErrorCodes.NO_ERROR,
                additional_data=b"server shutting down",
                last_stream_id=stream_id - 2 if stream_id > 2 else 0,
            )
            self.flush()
            self.close()
            return
        if self.streams.pop(stream_id, None) is None:
            return  # the client reset the stream meanwhile
        self.in_flight -= 1
        headers = [
            (":status", str(answer.status)),
            ("content-length", str(len(answer.body))),
            *answer.headers,
        ]
        try:
            self.h2.send_headers(stream_id, headers, end_stream=not answer.body)
            if answer.body:
                # Error bodies are small: they fit the client's window (65,535 by default).
                self.h2.send_data(stream_id, answer.body, end_stream=True)
        except h2.exceptions.H2Error:
            pass

    # --- HTTP/1.1 -----------------------------------------------------------------------------

    def _h11_next(self) -> None:
        conn = self.h11
        assert conn is not None
        while not self.busy and self.transport is not None and not self.transport.is_closing():
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                self.abort()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._h11_head = event
                self._h11_body = bytearray()
            elif isinstance(event, h11.Data):
                self._h11_body += event.data
            elif isinstance(event, h11.EndOfMessage):
                head = self._h11_head
                headers = {k.decode().lower(): v.decode() for k, v in head.headers}
                request = Request(
                    head.method.decode(), head.target.decode(), headers, bytes(self._h11_body)
                )
                self.busy = True
                self.server.current_connection = self.number
                answer = self.server.handler(request)
                if inspect.isawaitable(answer):
                    self._later(answer, self._h11_answer)
                    return
                self._h11_answer(answer)
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def _h11_answer(self, answer: Answer) -> None:
        conn = self.h11
        assert conn is not None
        self.busy = False
        if self.transport is None or self.transport.is_closing():
            return
        if not isinstance(answer, Response):
            self.abort()  # drop, or GOAWAY (which HTTP/1.1 has not)
            return
        headers = [("content-length", str(len(answer.body))), *answer.headers]
        self.transport.write(
            conn.send(h11.Response(status_code=answer.status, headers=headers))
            + conn.send(h11.Data(data=answer.body))
            + conn.send(h11.EndOfMessage())
        )
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            self.close()
            return
        self._h11_next()

    _h11_head: Any = None
    _h11_body: bytearray = bytearray()

    # --- helpers ------------------------------------------------------------------------------

    def _later(self, answer: Awaitable[Answer], deliver: Callable[[Answer], None]) -> None:
        async def wait() -> None:
            result = await answer
            deliver(result)
            self.flush()

        task = asyncio.get_running_loop().create_task(wait())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def flush(self) -> None:
        if self.h2 is None:
            return
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
