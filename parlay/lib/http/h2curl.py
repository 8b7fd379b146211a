"""HTTP/2 requests to the push providers on libcurl, through pycurl's asyncio multi interface.

One ``ConnectionPool`` holds, per key (a provider host, or a host and signing key), one libcurl
multi handle that keeps one HTTP/2 connection: every concurrent request of that key is a stream
on it. libcurl (C, with nghttp2) does the protocol: TLS with ALPN, the server's stream limit
(requests beyond it wait in libcurl until a stream ends), flow control, HPACK, GOAWAY, resets.
This module adds what Parlay needs around it:

* the URL policy at connect time (``parlay.lib.http.urls``): the host is resolved by the policy
  when the key's connection is opened, every address checked, and libcurl is told to use only
  those addresses for that host and port (``CURLOPT_RESOLVE``); TLS still names and verifies
  the host. ``BlockedAddress`` when the policy refuses;
* HTTP/2 or nothing: the request offers only ``h2`` in ALPN, and an answer that came any other
  way is an error;
* each request's own deadline (``TimeoutError``): a request past it is taken off the
  connection, which resets its stream (``RST_STREAM``), so its slot is free again;
* a connection that answered nothing at all while a request waited is retired: no new request
  takes it, it closes once its last request ends, and the next request opens a fresh one;
* a connection idle for ``idle_timeout`` seconds is closed (the next request re-resolves and
  reconnects);
* failures as exceptions a caller can map: ``ConnectError`` (no connection could be opened),
  ``ConnectionLost`` (the connection ended, or the server said GOAWAY, while the request was on
  it), ``StreamReset`` (the server reset this request's stream).

Why libcurl and not a Python HTTP/2 stack: against a native HTTP/2 sink (``nghttpd``), Parlay's
earlier client on the ``h2`` state machine spent ~245 µs of CPU per push in ``ApnsClient``;
the same pushes through libcurl ~60 µs (docs/architecture.md: "The push providers' HTTP/2
client is libcurl").
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import certifi
import pycurl

from parlay.lib.http.urls import UrlPolicy

__all__ = [
    "ConnectError",
    "ConnectionLost",
    "ConnectionPool",
    "Http2Error",
    "Response",
    "StreamReset",
]

K = TypeVar("K", bound=Hashable)

# libcurl's failures that mean no connection was made (name, TCP, TLS, ALPN); also an HTTP/2
# error while it waited for the server's SETTINGS (the server does not speak HTTP/2).
_CONNECT_CODES = frozenset(
    {
        pycurl.E_COULDNT_RESOLVE_HOST,
        pycurl.E_COULDNT_CONNECT,
        pycurl.E_SSL_CONNECT_ERROR,
        pycurl.E_PEER_FAILED_VERIFICATION,
        pycurl.E_SSL_CACERT_BADFILE,
        pycurl.E_SSL_CERTPROBLEM,
        pycurl.E_SSL_CIPHER,
        pycurl.E_UNSUPPORTED_PROTOCOL,
    }
)
# CURLE_HTTP2_STREAM: a stream error (pycurl names no constant for it).
_E_HTTP2_STREAM = 92
# Headers libcurl adds by itself that a push provider has no use for (a line without a value
# removes one).
_REMOVED_DEFAULTS = ("Accept:", "User-Agent:")
# How long after the TLS handshake the server's SETTINGS are surely in, at least (the wait is
# two TCP handshake times when that is longer): only a new connection's first requests wait.
SETTINGS_GRACE_SECONDS = 0.05
# Streams waiting beyond this many are libcurl's to queue; the server's own limit is lower.
_MAX_STREAMS = 1000


class Http2Error(Exception):
    """The request got no HTTP/2 answer."""


class ConnectError(Http2Error):
    """No HTTP/2 connection could be opened: nothing was sent."""


class ConnectionLost(Http2Error):
    """The connection ended (or was told to go away) before this request's answer."""


class StreamReset(Http2Error):
    """The server reset this request's stream."""


class Response:
    """A complete answer: status, headers (lower-case names; parsed when first asked for: most
    answers are read for their status alone), body."""

    __slots__ = ("_headers", "_lines", "body", "status")

    def __init__(self, status: int, lines: list[bytes], body: bytes) -> None:
        self.status = status
        self.body = body
        self._lines = lines  # as received, after the status line
        self._headers: dict[str, str] | None = None

    def header(self, name: str) -> str | None:
        """One header's value (``name`` in lower case), without parsing the others."""
        if self._headers is not None:
            return self._headers.get(name)
        wanted = name.encode("latin-1")
        size = len(wanted)
        for line in self._lines:
            if line[size : size + 1] == b":" and line[:size].lower() == wanted:
                return line[size + 1 :].decode("latin-1").strip()
        return None

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            headers = {}
            for line in self._lines:
                name, sep, value = line.partition(b":")
                if sep:
                    headers[name.decode("latin-1").strip().lower()] = value.decode(
                        "latin-1"
                    ).strip()
            self._headers = headers
        return self._headers


class _Transfer:
    """One reusable easy handle and what its current request has received."""

    __slots__ = ("body", "curl", "headers")

    def __init__(self, link: _Link) -> None:
        self.headers: list[bytes] = []
        self.body: list[bytes] = []
        curl = self.curl = pycurl.Curl()
        # HTTP/2 over TLS only: ALPN offers h2 alone (the answer's version is checked too).
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.PIPEWAIT, 1)  # wait for the key's connection rather than open another
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.POST, 1)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(link.connect_timeout * 1000)))
        curl.setopt(pycurl.MAXAGE_CONN, max(1, int(link.idle_timeout)))
        curl.setopt(pycurl.RESOLVE, link.resolve)
        curl.setopt(pycurl.CAINFO, link.trust.cafile)
        if link.trust.capath:
            curl.setopt(pycurl.CAPATH, link.trust.capath)
        curl.setopt(pycurl.HEADERFUNCTION, self.headers.append)
        curl.setopt(pycurl.WRITEFUNCTION, self.body.append)

    def response(self) -> Response:
        curl = self.curl
        if curl.getinfo(pycurl.INFO_HTTP_VERSION) != pycurl.CURL_HTTP_VERSION_2_0:
            raise ConnectError("the server did not answer over HTTP/2")
        # The first line is the status line.
        return Response(curl.getinfo(pycurl.RESPONSE_CODE), self.headers[1:], b"".join(self.body))

    def reset(self) -> None:
        self.headers.clear()
        self.body.clear()


@dataclass(frozen=True)
class _Trust:
    """Where libcurl finds the certificates it trusts: ``ca_bundle`` when given (a test CA for
    loopback fakes), else the system's bundle; plus the system's certificate directory."""

    cafile: str
    capath: str | None

    @classmethod
    def of(cls, ca_bundle: str | None) -> _Trust:
        paths = ssl.get_default_verify_paths()
        return cls(ca_bundle or paths.cafile or certifi.where(), paths.capath or None)


class _Link:
    """One key's multi handle: one HTTP/2 connection, its requests, its idle timer."""

    def __init__(
        self,
        addresses: Sequence[str],
        host: str,
        port: int,
        trust: _Trust,
        connect_timeout: float,
        idle_timeout: float,
    ) -> None:
        literal = [f"[{a}]" if ":" in a else a for a in addresses]
        self.resolve = [f"{host}:{port}:{','.join(literal)}"]
        self.trust = trust
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.multi = pycurl.AsyncCurlMulti()
        self.multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
        self.multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, 1)
        self.multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, 1)
        self.multi.setopt(pycurl.M_MAX_CONCURRENT_STREAMS, _MAX_STREAMS)
        self.free: list[_Transfer] = []
        self.in_flight = 0
        self.retired = False  # no new request takes it: it closes after its last request
        # Done once the server's SETTINGS must be in (``first``). libcurl would open further
        # streams before they arrive, beyond a stream limit the server is about to announce
        # (APNs allows one stream until a valid provider token, and treats more as a protocol
        # error): the connection's first request goes alone until then.
        self.primed: asyncio.Future[None] | None = None
        self.last_answer = 0.0  # time.monotonic() of the last request that got an answer
        self._idle_timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    async def first(self) -> bool:
        """Whether this request is the connection's first; the others wait until the server's
        SETTINGS are in (see ``primed``)."""
        if self.primed is None:
            self.primed = asyncio.get_running_loop().create_future()
            return True
        if not self.primed.done():
            await asyncio.shield(self.primed)
        return False

    def settled(self) -> None:
        """The server's SETTINGS are in, or the first request ended: the others may go."""
        if self.primed is not None and not self.primed.done():
            self.primed.set_result(None)

    async def _watch_handshake(self, curl: pycurl.Curl) -> None:
        """Settle once the server's SETTINGS must have arrived, even if the first answer is
        slow: the server sends them as soon as its side of the TLS handshake is done, so by
        one round trip after the client's side is done they are in (with a floor for slack)."""
        while self.primed is not None and not self.primed.done():
            if curl.getinfo(pycurl.APPCONNECT_TIME) > 0:
                round_trip = curl.getinfo(pycurl.CONNECT_TIME)
                await asyncio.sleep(max(SETTINGS_GRACE_SECONDS, 2 * round_trip))
                break
            await asyncio.sleep(0.005)
        self.settled()

    async def request(
        self,
        url: str,
        headers: list[str],
        body: bytes,
        timeout: float,  # noqa: ASYNC109 - libcurl's own deadline for the transfer
        *,
        first: bool = False,
    ) -> Response:
        """The answer within ``timeout`` seconds (libcurl's own deadline for the transfer, the
        wait for a stream included: no timer of the event loop per request)."""
        transfer = self.free.pop() if self.free else _Transfer(self)
        curl = transfer.curl
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.HTTPHEADER, headers)
        curl.setopt(pycurl.POSTFIELDS, body)
        curl.setopt(pycurl.TIMEOUT_MS, max(1, int(timeout * 1000)))
        self._busy()
        watcher = asyncio.create_task(self._watch_handshake(curl)) if first else None
        try:
            # Cancelled by the caller (its deadline): the multi takes the handle off, which
            # resets the stream.
            await self.multi.add_handle(curl)
        except asyncio.CancelledError:
            transfer.curl.close()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # Not this task's cancellation: the connection was closed under the request.
            raise ConnectionLost("the connection was closed") from None
        except pycurl.error as exc:
            transfer.curl.close()
            code = exc.args[0] if exc.args else 0
            message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
            if code == pycurl.E_OPERATION_TIMEDOUT:
                raise TimeoutError(message) from exc  # the stream was reset when it ended
            if code == _E_HTTP2_STREAM and "reset by curl" not in message:
                raise StreamReset(message) from exc
            # The connection failed or went away: later requests take a fresh one, which is
            # resolved and checked again and whose first request goes alone.
            self.retired = True
            if code in _CONNECT_CODES or (code == pycurl.E_HTTP2 and "SETTINGS" in message):
                raise ConnectError(message) from exc
            raise ConnectionLost(message) from exc
        finally:
            self._idle()
            if first:
                self.settled()
            if watcher is not None:
                watcher.cancel()
        try:
            answer = transfer.response()
        finally:
            transfer.reset()
            self.free.append(transfer)
        self.last_answer = time.monotonic()
        return answer

    def _busy(self) -> None:
        self.in_flight += 1
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._closing is None:
            loop = asyncio.get_running_loop()
            wait = 0.0 if self.retired else self.idle_timeout
            self._idle_timer = loop.call_later(wait, self.close_soon)

    @property
    def usable(self) -> bool:
        return self._closing is None and not self.retired

    @property
    def ready(self) -> bool:
        """Usable, and its first request settled: a request need wait for nothing here."""
        return self.usable and self.primed is not None and self.primed.done()

    def close_soon(self) -> None:
        """Start closing: no new request takes this connection from now on."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.aclose())

    async def aclose(self) -> None:
        """Close the connection; requests still on it fail with ``ConnectionLost``."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        await self.multi.aclose()
        for transfer in self.free:
            transfer.curl.close()
        self.free.clear()


class ConnectionPool(Generic[K]):
    """One live HTTP/2 connection per key, opened by the first request that needs it, shared
    by all concurrent requests, replaced when it is lost, told to go away, or retired.

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
        self._trust = _Trust.of(ca_bundle)
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._links: dict[K, _Link] = {}
        self._opening: dict[K, asyncio.Task[_Link]] = {}
        self._retired: set[_Link] = set()

    async def request(
        self,
        key: K,
        address: tuple[str, int],
        path: str,
        headers: list[str],
        body: bytes,
        *,
        timeout: float,  # noqa: ASYNC109 - each request's own deadline, enforced inside
        content_type: str | None = None,
    ) -> Response:
        """POST ``path`` on the key's connection within ``timeout`` seconds (``TimeoutError``).
        ``headers`` are ``"name: value"`` lines (no content type: ``content_type`` says it, or
        none is sent); lost or refused connections raise ``Http2Error``, an address the URL
        policy refuses ``BlockedAddress``."""
        started = time.monotonic()
        host, port = address
        url = _url(host, port, path)
        lines = [*headers, *_REMOVED_DEFAULTS, _content_type(content_type)]
        link = self._links.get(key)
        try:
            if link is not None and link.ready:
                # The common case: nothing to wait for before the transfer.
                return await link.request(url, lines, body, timeout)
            async with asyncio.timeout(timeout):  # opening the connection, or its first request
                link = await self._link(key, host, port)
                first = await link.first()
                if not link.usable:  # its first request found it broken: take a fresh one
                    link = await self._link(key, host, port)
                    first = await link.first()
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise TimeoutError
            return await link.request(url, lines, body, left, first=first)
        except TimeoutError:
            if link is not None and link.last_answer < started:
                self._retire(key, link)
            raise

    async def close(self) -> None:
        opening = list(self._opening.values())
        self._opening.clear()
        for task in opening:
            task.cancel()
        links = [*self._links.values(), *self._retired]
        self._links.clear()
        self._retired.clear()
        for link in links:
            link.close_soon()
        await asyncio.gather(*(link.aclose() for link in links), return_exceptions=True)
        if opening:
            await asyncio.gather(*opening, return_exceptions=True)

    async def _link(self, key: K, host: str, port: int) -> _Link:
        """The key's live connection; the first request after none opens one, others wait."""
        link = self._links.get(key)
        if link is not None:
            if link.usable:
                return link
            # Closed when idle, or broken: reopen, resolving and checking again.
            self._retire(key, link)
        opening = self._opening.get(key)
        if opening is None:
            opening = self._opening[key] = asyncio.create_task(self._open(key, host, port))
        # Shielded: a request whose deadline passes must not cancel the others' connection.
        return await asyncio.shield(opening)

    async def _open(self, key: K, host: str, port: int) -> _Link:
        try:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    addresses = await self._urls.addresses(host, port)
            except TimeoutError as exc:
                wait = self._connect_timeout
                raise ConnectError(f"{host} did not resolve within {wait:g} s") from exc
            except OSError as exc:
                raise ConnectError(f"{host}: {exc}") from exc
            link = _Link(
                addresses, host, port, self._trust, self._connect_timeout, self._idle_timeout
            )
            self._links[key] = link
            return link
        finally:
            self._opening.pop(key, None)

    def _retire(self, key: K, link: _Link) -> None:
        if self._links.get(key) is link:
            del self._links[key]
        link.retired = True
        self._retired = {old for old in self._retired if old.in_flight}
        if link.in_flight == 0:
            link.close_soon()
        else:
            self._retired.add(link)


def _content_type(value: str | None) -> str:
    # A line without a value removes the header libcurl would add for a POST body.
    return "Content-Type:" if value is None else f"content-type: {value}"


def _url(host: str, port: int, path: str) -> str:
    name = host if host.isascii() else host.encode("idna").decode()
    authority = f"[{name}]" if ":" in name else name
    return f"https://{authority}:{port}{path}"
