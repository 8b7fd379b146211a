"""A lean HTTP/1.1 client for one job: POSTing small JSON documents to many brand endpoints at a
high rate, with kept-alive connections, each opened only where the URL policy allows.

Why not httpx (``make_client``): the status-webhook relay measured 1.7 ms of CPU per request
through httpx and httpcore's pool (whose request assignment scans every connection, per request),
about 100 requests/s with 64 in flight on the benchmark machine; this client writes each request
in one piece and parses the answer with ``httptools`` (llhttp, in C) at a fraction of that
(docs/webhooks.md#performance). It does only what its users need: POST, a bounded answer
(at most 64 KiB, kept: the SMS and WhatsApp channels read the provider's JSON), keep-alive, TLS
with the host's name, timeouts. The SMS and WhatsApp channels use it for the same measured
reason (docs/architecture.md, "Hand-written where a library exists").

Every new connection resolves the host through ``UrlPolicy.addresses`` (the connect-time check:
``BlockedAddress`` when an address is not public) and connects to a checked address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from parlay.lib.http.urls import UrlPolicy

MAX_ANSWER_BYTES = 64 * 1024  # an answer's body beyond this: the connection is closed
_READ = 65536


class HttpError(Exception):
    """The request failed without an HTTP answer; ``kind`` is a code word for the record
    (``connect``, ``reset``, ``malformed``, ``too_large``), never the receiver's own words."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class _Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    body: list[bytes] = field(default_factory=list)
    done: bool = False
    keep_alive: bool = False
    parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= MAX_ANSWER_BYTES:
            self.body.append(body)

    def on_message_complete(self) -> None:
        # Asked here: once the message is over the parser has forgotten it.
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()
        self.done = True


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes = b""


class Http1Poster:
    """POSTs over kept-alive HTTP/1.1 connections, up to ``max_idle`` kept per origin."""

    def __init__(self, urls: UrlPolicy, ssl_context: ssl.SSLContext, *, max_idle: int = 64) -> None:
        self._urls = urls
        self._tls = ssl_context
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[_Connection]] = defaultdict(list)

    async def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        timeout: float,  # noqa: ASYNC109 - one bound for connecting, writing and the answer
    ) -> Answer:
        """POST ``body``; the answer's status, headers and body. ``TimeoutError``, ``HttpError``, or
        ``BlockedAddress`` (the host resolves to an address the policy refuses)."""
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        head = [f"POST {target} HTTP/1.1", f"Host: {host_header}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        origin = (scheme, host, port)
        async with asyncio.timeout(timeout):
            # A kept-alive connection the receiver closed meanwhile fails at once: once more on
            # a new one (a repeat is possible either way; the events are at least once).
            idle = self._idle[origin]
            while idle:
                connection = idle.pop()
                try:
                    return await self._exchange(origin, connection, request)
                except HttpError as exc:
                    if exc.kind != "reset":
                        raise
            connection = await self._connect(scheme, host, port)
            return await self._exchange(origin, connection, request)

    async def _connect(self, scheme: str, host: str, port: int) -> _Connection:
        addresses = await self._urls.addresses(host, port)
        failure: OSError | None = None
        for address in addresses:
            try:
                if scheme == "https":
                    reader, writer = await asyncio.open_connection(
                        address, port, ssl=self._tls, server_hostname=host
                    )
                else:
                    reader, writer = await asyncio.open_connection(address, port)
                return _Connection(reader, writer)
            except OSError as exc:
                failure = exc
        raise HttpError("connect") from failure

    async def _exchange(
        self, origin: tuple[str, str, int], connection: _Connection, request: bytes
    ) -> Answer:
        answer = _Answer()
        parser = answer.parser = httptools.HttpResponseParser(answer)
        try:
            connection.writer.write(request)
            await connection.writer.drain()
            while not answer.done:
                data = await connection.reader.read(_READ)
                if not data:
                    raise HttpError("reset")
                parser.feed_data(data)
                if answer.size > MAX_ANSWER_BYTES:
                    raise HttpError("too_large")
        except httptools.HttpParserError as exc:
            connection.close()
            raise HttpError("malformed") from exc
        except (ConnectionError, OSError) as exc:
            connection.close()
            raise HttpError("reset") from exc
        except BaseException:
            connection.close()
            raise
        answer.status = parser.get_status_code()
        if answer.keep_alive and len(self._idle[origin]) < self._max_idle:
            self._idle[origin].append(connection)
        else:
            connection.close()
        return Answer(answer.status, answer.headers, b"".join(answer.body))

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
