"""One client HTTP/2 connection on the ``h2`` state machine over an asyncio TLS transport.

Many concurrent requests share the connection, each on its own stream. What it takes care of:

* TLS with ALPN ``h2`` (refused otherwise), and the server's connection preface before the
  first request, so the server's ``SETTINGS_MAX_CONCURRENT_STREAMS`` is known from the start;
* that stream limit: a request waits (first come, first served) for a free stream slot, and
  the waiters move as soon as a stream ends or the server raises its limit;
* flow control: a body larger than the stream's or the connection's send window is sent as
  the server's ``WINDOW_UPDATE`` frames open room; data received is acknowledged at once;
* batched writes: the frames of the requests started in one event-loop iteration (and the
  acknowledgements of the data received) go out together, in one transport write per
  ``FLUSH_EVERY`` requests plus one for the rest (scheduled with ``call_soon``); the
  transport's write buffer limits pause new requests;
* failures, as exceptions a caller can map: ``ConnectError`` (the connection could not be
  opened), ``Unavailable`` (this connection can start no new stream: closed or going away;
  nothing was sent, another connection may take the request), ``GoAway`` (the server sent
  GOAWAY while the request was on it), ``StreamReset`` and ``ConnectionLost``;
* a connection idle for ``idle_timeout`` seconds closes itself;
* the URL policy at connect time (``parlay.lib.http.urls``): the host is resolved by the
  policy, every address checked, and the connection goes to a checked address with TLS SNI and
  verification by the host name; ``BlockedAddress`` when the policy refuses.

A request cancelled by its caller (a per-request deadline) resets its stream, so the server can
drop it and the slot is free again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hpack.table

from parlay.lib.http.client import tls_context
from parlay.lib.http.urls import UrlPolicy

__all__ = [
    "ConnectError",
    "ConnectionLost",
    "ConnectionPool",
    "GoAway",
    "Header",
    "Http2Connection",
    "Http2Error",
    "Response",
    "StreamReset",
    "Unavailable",
]

# Requests started per transport write at most. Writing all of an iteration's requests at once
# saves system calls, but the server then idles until the whole batch is written and the client
# idles while it answers; a write every few requests lets both work at once (on loopback to the
# APNs fake: ~1,600/s with one write per iteration, ~2,700/s with one per request, ~3,600/s
# with one per 8-32).
FLUSH_EVERY = 16
_CONCURRENCY_SETTINGS = frozenset(
    {
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS,
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE,
        h2.settings.SettingCodes.MAX_FRAME_SIZE,
    }
)


# A request header: (name, value) in bytes; ``hpack.NeverIndexedHeaderTuple`` for values that
# must stay out of the compression tables (credentials) or would only churn them (unique IDs).
Header = tuple[bytes, bytes]


def _integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """An HPACK integer (RFC 7541 §5.1) in a ``prefix_bits`` prefix, ``flags`` in the rest."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


# The HPACK static table: name → (lowest index of the name, {value: index}).
_STATIC: dict[bytes, tuple[int, dict[bytes, int]]] = {}
for _index, (_name, _value) in enumerate(hpack.table.HeaderTable.STATIC_TABLE, 1):
    _STATIC.setdefault(_name, (_index, {}))[1].setdefault(_value, _index)


def _field(name: bytes, value: bytes, never_indexed: bool) -> bytes:
    """One field as HPACK without the dynamic table: the static entry when it matches
    exactly, else a literal (name by static index where there is one), no Huffman coding."""
    static = _STATIC.get(name)
    if static is not None and not never_indexed:
        exact = static[1].get(value)
        if exact is not None:
            return _integer(exact, 7, 0x80)  # indexed field
    flags = 0x10 if never_indexed else 0x00  # literal never indexed / without indexing
    if static is not None:
        head = _integer(static[0], 4, flags)
    else:
        head = bytes((flags,)) + _integer(len(name), 7, 0) + name
    return head + _integer(len(value), 7, 0) + value


class _Encoder(hpack.Encoder):
    """HPACK for requests that never touches the dynamic table and never Huffman-codes.

    hpack's encoder searched and updated its table for every field and Huffman-coded every
    literal in Python, the largest cost of a request (~140 µs). Fields that do not use the
    dynamic table need no shared state, so a repeated field (topic, push type, provider token)
    is encoded once and reused; the price is a few hundred bytes more per request on the wire.
    """

    def __init__(self) -> None:
        super().__init__()
        self._known: dict[tuple[bytes, bytes], bytes] = {}

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        if self.header_table.resized:
            # The server changed its table size: hpack's encoder signals it (RFC 7541 §4.2).
            return super().encode(headers, huffman=False)
        known = self._known
        block = []
        for header in headers:
            name, value = header[0], header[1]
            if isinstance(header, hpack.HeaderTuple) and not header.indexable:
                block.append(_field(name, value, never_indexed=True))  # unique or secret
                continue
            encoded = known.get((name, value))
            if encoded is None:
                if len(known) >= 256:
                    known.clear()
                encoded = known[(name, value)] = _field(name, value, never_indexed=False)
            block.append(encoded)
        return b"".join(block)


class _H2Connection(h2.connection.H2Connection):
    """h2's state machine, told how many streams are open instead of counting them.

    h2 counts the open outbound streams before each new one by walking every stream it holds;
    ``Http2Connection`` knows the count already (it hands out the stream slots), so h2 walks
    only when closed streams pile up, to forget them.
    """

    open_hint = 0  # open outbound streams, not counting the one about to start

    @property
    def open_outbound_streams(self) -> int:
        if len(self.streams) > 2 * self.open_hint + 64:
            return super().open_outbound_streams
        return self.open_hint


class Http2Error(Exception):
    """A request did not get an answer because of the connection or its stream."""


class ConnectError(Http2Error):
    """The connection could not be opened (TCP, TLS, ALPN or the server's preface)."""


class Unavailable(Http2Error):
    """The connection can start no new stream (closed or going away); nothing was sent."""


class ConnectionLost(Http2Error):
    """The connection closed or broke while the request was on it."""


class GoAway(Http2Error):
    """The server sent GOAWAY while the request was on the connection."""

    def __init__(self, error_code: int, last_stream_id: int, data: bytes) -> None:
        self.error_code = error_code
        self.last_stream_id = last_stream_id
        self.data = data  # the server's debug data: its own words, never shown in a delivery
        super().__init__(_code_name(error_code))


class StreamReset(Http2Error):
    """The server reset the request's stream."""

    def __init__(self, error_code: int) -> None:
        self.error_code = error_code
        super().__init__(_code_name(error_code))


def _code_name(error_code: int) -> str:
    try:
        return h2.errors.ErrorCodes(error_code).name
    except ValueError:
        return f"error code {error_code}"


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Stream:
    __slots__ = ("body", "future", "headers", "sending", "status")

    def __init__(self, future: asyncio.Future[Response]) -> None:
        self.future = future
        self.sending = False  # the request body is not all sent yet
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""


class Http2Connection(asyncio.Protocol):
    """An HTTP/2 client connection; open with ``await Http2Connection.open(...)``."""

    def __init__(self, authority: bytes, *, idle_timeout: float | None = None) -> None:
        self._authority = authority
        self._idle_timeout = idle_timeout
        self._loop = asyncio.get_running_loop()
        # The caller builds well-formed, lower-case request headers itself (see ``request``):
        # h2's normalisation and checks of outbound headers would only repeat that work.
        self._h2 = _H2Connection(
            h2.config.H2Configuration(
                client_side=True,
                header_encoding="utf-8",
                normalize_outbound_headers=False,
                validate_outbound_headers=False,
            )
        )
        self._h2.encoder = _Encoder()
        self._transport: asyncio.Transport | None = None
        self._preface: asyncio.Future[None] = self._loop.create_future()
        self._streams: dict[int, _Stream] = {}
        self._active = 0  # streams started or handed to a waiter, not yet ended
        self._limit = 1  # the server's SETTINGS_MAX_CONCURRENT_STREAMS, once its preface came
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._window_waiters: list[asyncio.Future[None]] = []
        self._writable: asyncio.Future[None] | None = None  # set while the transport is paused
        self._flush_scheduled = False
        self._unflushed = 0  # requests started since the last write
        self._closed: Http2Error | None = None  # why no new stream can start
        self._idle_since = time.monotonic()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.last_answer = 0.0  # time.monotonic() of the last stream that ended with an answer

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        urls: UrlPolicy,
        ssl_context: ssl.SSLContext,
        connect_timeout: float,
        idle_timeout: float | None = None,
    ) -> Http2Connection:
        """Resolve and check ``host`` with ``urls``, connect to a checked address, check ALPN,
        exchange the prefaces; ``ConnectError`` when any of it fails, ``BlockedAddress`` (from
        the policy) when the host resolves to an address that is not public."""
        name = host if host.isascii() else host.encode("idna").decode()
        authority = f"[{name}]" if ":" in name else name
        if port != 443:
            authority = f"{authority}:{port}"
        connection: Http2Connection | None = None
        try:
            async with asyncio.timeout(connect_timeout):
                failure: OSError | None = None
                for address in await urls.addresses(host, port):
                    attempt = cls(authority.encode(), idle_timeout=idle_timeout)
                    try:
                        await attempt._connect(address, port, ssl_context, host)
                    except OSError as exc:
                        attempt.abort()
                        failure = exc
                        continue
                    connection = attempt
                    break
                if connection is None:
                    assert failure is not None  # the policy never answers no address
                    raise failure
                await connection._preface
        except TimeoutError as exc:
            if connection is not None:
                connection.abort()
            raise ConnectError(
                f"no HTTP/2 connection to {authority} within {connect_timeout:g} s"
            ) from exc
        except (OSError, ssl.SSLError, Http2Error) as exc:
            if connection is not None:
                connection.abort()
            if isinstance(exc, ConnectError):
                raise
            raise ConnectError(f"{authority}: {exc}") from exc
        return connection

    async def _connect(
        self, address: str, port: int, ssl_context: ssl.SSLContext, host: str
    ) -> None:
        """TCP to the checked ``address``; TLS names ``host`` (SNI, certificate check)."""
        await self._loop.create_connection(
            lambda: self, address, port, ssl=ssl_context, server_hostname=host
        )

    # --- state --------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Whether a new request may start here (not closed, no GOAWAY received)."""
        return self._closed is None

    @property
    def in_flight(self) -> int:
        """Requests on the connection or waiting for a stream slot."""
        return self._active + len(self._slot_waiters)

    @property
    def max_concurrent_streams(self) -> int:
        return self._limit

    # --- requests -----------------------------------------------------------------------------

    async def request(
        self, method: bytes, path: bytes, headers: Sequence[Header], body: bytes = b""
    ) -> Response:
        """Send one request and wait for its complete answer.

        ``headers`` must be valid HTTP/2 fields: lower-case names, no connection-specific
        fields, values without NUL, CR or LF and without surrounding whitespace.
        """
        if self._closed is not None:
            raise Unavailable(str(self._closed))
        if self._slot_waiters or self._active >= self._limit:
            await self._wait_for_slot()
        else:
            self._active += 1
        if self._writable is not None:
            try:
                await asyncio.shield(self._writable)
            except BaseException:
                self._end_stream_slot()
                raise
        if self._closed is not None:
            self._end_stream_slot()
            raise Unavailable(str(self._closed))
        stream_id = self._h2.get_next_available_stream_id()
        stream = _Stream(self._loop.create_future())
        self._h2.open_hint = len(self._streams)
        self._streams[stream_id] = stream
        try:
            self._h2.send_headers(
                stream_id,
                [
                    (b":method", method),
                    (b":scheme", b"https"),
                    (b":authority", self._authority),
                    hpack.NeverIndexedHeaderTuple(b":path", path),
                    *headers,
                ],
                end_stream=not body,
            )
            if body:
                stream.sending = True
                await self._send_body(stream_id, stream, body)
                stream.sending = False
            self._unflushed += 1
            if self._unflushed >= FLUSH_EVERY:
                self._flush()
            else:
                self._flush_soon()
            return await stream.future
        except h2.exceptions.ProtocolError as exc:
            self._forget(stream_id)
            raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            # Cancelled (the caller's deadline) or failed: free the stream and its slot.
            if self._forget(stream_id) and self._closed is None:
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                self._flush_soon()
            raise

    async def _wait_for_slot(self) -> None:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter  # the slot is ours when this returns (``_hand_out_slots`` counted it)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._end_stream_slot()  # handed a slot just before the cancellation
            raise

    def _hand_out_slots(self) -> None:
        waiters = self._slot_waiters
        while waiters and self._active < self._limit:
            waiter = waiters.popleft()
            if not waiter.done():
                self._active += 1
                waiter.set_result(None)

    def _end_stream_slot(self) -> None:
        self._active -= 1
        if self._slot_waiters:
            self._hand_out_slots()
        if self._active == 0 and self._idle_timeout is not None:
            self._idle_since = time.monotonic()
            if self._idle_timer is None and self._closed is None:
                self._idle_timer = self._loop.call_later(self._idle_timeout, self._check_idle)

    def _forget(self, stream_id: int) -> bool:
        """Drop a stream that will get no answer; False when it had already ended."""
        if self._streams.pop(stream_id, None) is None:
            return False
        self._end_stream_slot()
        return True

    async def _send_body(self, stream_id: int, stream: _Stream, body: bytes) -> None:
        """DATA frames within the send windows, waiting for WINDOW_UPDATE when they are full."""
        size, offset = len(body), 0
        while offset < size:
            room = min(
                self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size
            )
            if room <= 0:
                self._flush_soon()
                waiter: asyncio.Future[None] = self._loop.create_future()
                self._window_waiters.append(waiter)
                await waiter
                if stream.future.done():  # reset or lost meanwhile: its outcome says why
                    return
                continue
            end = min(size, offset + room)
            self._h2.send_data(stream_id, body[offset:end], end_stream=end == size)
            offset = end

    def _stop_sending(self, stream_id: int) -> None:
        with contextlib.suppress(h2.exceptions.H2Error):
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        self._wake_window_waiters()

    def _wake_window_waiters(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Say GOAWAY and close; requests still on the connection fail with ``ConnectionLost``."""
        if self._transport is not None and not self._transport.is_closing():
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.close_connection()
            self._flush()
            self._transport.close()
        self._shut(ConnectionLost("the connection was closed by the client"))

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        self._shut(ConnectionLost("the connection was aborted by the client"))

    def _shut(self, reason: Http2Error) -> None:
        """No new streams; fail every request and waiter still here with ``reason``."""
        if self._closed is None:
            self._closed = reason
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if not self._preface.done():
            self._preface.set_exception(reason)
            self._preface.exception()  # retrieved: the opener reports it
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            self._active -= 1
            if not stream.future.done():
                stream.future.set_exception(reason)
        unavailable = Unavailable(str(reason))
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_exception(unavailable)
        self._wake_window_waiters()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._active or self._closed is not None or self._idle_timeout is None:
            return
        left = self._idle_since + self._idle_timeout - time.monotonic()
        if left > 0:
            self._idle_timer = self._loop.call_later(left, self._check_idle)
        else:
            self.close()

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn != "h2":
            self._shut(ConnectError(f"the server did not agree to HTTP/2 (ALPN {alpn!r})"))
            self._transport.abort()
            return
        self._h2.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        detail = f": {exc}" if exc else ""
        self._shut(ConnectionLost(f"the connection was closed by the server{detail}"))
        self._transport = None

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._flush()  # h2 queued a GOAWAY for the server
            self._shut(ConnectionLost(f"HTTP/2 protocol error: {exc}"))
            if self._transport is not None:
                self._transport.close()
            return
        streams = self._streams
        for event in events:
            kind = type(event)
            if kind is h2.events.ResponseReceived:
                response = cast(h2.events.ResponseReceived, event)
                stream = streams.get(response.stream_id)
                if stream is not None:
                    # header_encoding="utf-8": names and values arrive as str
                    stream.headers = dict(cast(list[tuple[str, str]], response.headers))
                    stream.status = int(stream.headers.pop(":status", "0"))
            elif kind is h2.events.DataReceived:
                received = cast(h2.events.DataReceived, event)
                stream = streams.get(received.stream_id)
                if stream is not None and received.data:
                    stream.body += received.data
                if received.flow_controlled_length:
                    self._h2.acknowledge_received_data(
                        received.flow_controlled_length, received.stream_id
                    )
            elif kind is h2.events.StreamEnded:
                stream_id = cast(h2.events.StreamEnded, event).stream_id
                stream = streams.pop(stream_id, None)
                if stream is not None:
                    self.last_answer = time.monotonic()
                    if stream.sending:
                        # Answered before the whole body went out (RFC 9113 §8.1): stop sending.
                        self._stop_sending(stream_id)
                    if not stream.future.done():
                        stream.future.set_result(
                            Response(stream.status, stream.headers, stream.body)
                        )
                    self._end_stream_slot()
            elif kind is h2.events.StreamReset:
                reset = cast(h2.events.StreamReset, event)
                stream = streams.pop(reset.stream_id, None)
                if stream is not None:
                    if not stream.future.done():
                        stream.future.set_exception(StreamReset(int(reset.error_code or 0)))
                    self._end_stream_slot()
                self._wake_window_waiters()
            elif kind is h2.events.WindowUpdated:
                self._wake_window_waiters()
            elif kind is h2.events.RemoteSettingsChanged:
                changed = cast(h2.events.RemoteSettingsChanged, event).changed_settings
                self._limit = self._h2.remote_settings.max_concurrent_streams
                if not self._preface.done():
                    self._preface.set_result(None)
                if not _CONCURRENCY_SETTINGS.isdisjoint(changed):
                    self._hand_out_slots()
                    self._wake_window_waiters()
            elif kind is h2.events.ConnectionTerminated:
                # h2 processes nothing after a GOAWAY, so no stream on this connection will be
                # answered any more: all of them fail (a caller retries them on a new one).
                goaway = cast(h2.events.ConnectionTerminated, event)
                self._flush()
                self._shut(
                    GoAway(
                        int(goaway.error_code or 0),
                        int(goaway.last_stream_id or 0),
                        goaway.additional_data or b"",
                    )
                )
                if self._transport is not None:
                    self._transport.close()
                return
        self._flush_soon()

    # --- writing ------------------------------------------------------------------------------

    def _flush_soon(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._unflushed = 0
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


K = TypeVar("K", bound=Hashable)


class ConnectionPool(Generic[K]):
    """One live connection per key (a provider host, or a host and signing key), opened by the
    first request that needs it, shared by all concurrent requests, replaced when it is lost or
    told to go away.

    Each request has its own deadline, so one slow answer fails only its own request. A
    connection that answered nothing at all while a request waited is retired: no new request
    takes it, and it closes when its last request ends.
    """

    def __init__(
        self,
        *,
        urls: UrlPolicy,
        ca_bundle: str | None,
        connect_timeout: float,
        idle_timeout: float,
    ) -> None:
        self._urls = urls
        self._ca_bundle = ca_bundle
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._ssl_context: ssl.SSLContext | None = None  # built on the first connect
        self._links: dict[K, Http2Connection] = {}
        self._opening: dict[K, asyncio.Task[Http2Connection]] = {}
        self._retired: set[Http2Connection] = set()

    async def request(
        self,
        key: K,
        address: tuple[str, int],
        path: bytes,
        headers: Sequence[Header],
        body: bytes,
        *,
        timeout: float,  # noqa: ASYNC109 - each request's own deadline, enforced inside
    ) -> Response:
        """POST on the key's connection within ``timeout`` seconds (``TimeoutError``); lost or
        refused connections raise ``Http2Error``, an address the URL policy refuses
        ``BlockedAddress``."""
        started = time.monotonic()
        connection: Http2Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                connection = await self._connection(key, address)
                try:
                    return await connection.request(b"POST", path, headers, body)
                except Unavailable:
                    # Closed or going away before this request got a stream: nothing was sent,
                    # so it may take the connection that replaces it, once.
                    connection = await self._connection(key, address)
                    return await connection.request(b"POST", path, headers, body)
        except TimeoutError:
            if connection is not None and connection.last_answer < started:
                self._retire(key, connection)
            raise
        finally:
            retired = connection is not None and connection in self._retired
            if connection is not None and retired and connection.in_flight == 0:
                self._retired.discard(connection)
                connection.close()

    async def close(self) -> None:
        opening = list(self._opening.values())
        self._opening.clear()
        for task in opening:
            task.cancel()
        connections = [*self._links.values(), *self._retired]
        self._links.clear()
        self._retired.clear()
        for connection in connections:
            connection.close()
        if opening:
            await asyncio.gather(*opening, return_exceptions=True)

    async def _connection(self, key: K, address: tuple[str, int]) -> Http2Connection:
        """The key's live connection; the first request after none opens one, others wait."""
        connection = self._links.get(key)
        if connection is not None:
            if connection.usable:
                return connection
            del self._links[key]  # lost or told to go away: it ends by itself
        opening = self._opening.get(key)
        if opening is None:
            opening = self._opening[key] = asyncio.create_task(self._open(key, address))
        # Shielded: a request whose deadline passes must not cancel the others' connection.
        return await asyncio.shield(opening)

    async def _open(self, key: K, address: tuple[str, int]) -> Http2Connection:
        try:
            if self._ssl_context is None:
                context = tls_context(self._ca_bundle)
                context.set_alpn_protocols(["h2"])
                self._ssl_context = context
            connection = await Http2Connection.open(
                address[0],
                address[1],
                urls=self._urls,
                ssl_context=self._ssl_context,
                connect_timeout=self._connect_timeout,
                idle_timeout=self._idle_timeout,
            )
            self._links[key] = connection
            return connection
        finally:
            self._opening.pop(key, None)

    def _retire(self, key: K, connection: Http2Connection) -> None:
        if self._links.get(key) is connection:
            del self._links[key]
        self._retired.add(connection)
