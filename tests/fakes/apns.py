"""A faithful loopback fake of the APNs HTTP/2 provider API.

A raw ``h2`` server over TLS (a ``trustme`` test CA; ALPN ``h2``, or h2 with prior knowledge when
the client offers no ALPN) that behaves like ``api.push.apple.com`` where Parlay can tell:

* token auth: ES256 JWT verified against the public key registered for (teamId, keyId);
  ``403 MissingProviderToken`` / ``InvalidProviderToken`` / ``ExpiredProviderToken`` (iat older
  than an hour) and ``429 TooManyProviderTokenUpdates`` when a connection's token changes within
  20 minutes of the previous one;
* each connection starts with ``SETTINGS_MAX_CONCURRENT_STREAMS = 1`` and raises it (1000) after
  the first request with a valid token; flow control as any HTTP/2 server (the stream window
  is ``initial_window`` once the client acknowledges it, 65,535 by default; data is
  acknowledged as it is read);
* the headers and payload are validated (``BadTopic``, ``MissingTopic``, ``InvalidPushType``,
  ``BadExpirationDate``, ``BadMessageId``, ``BadPriority``, ``BadCollapseId``, ``BadDeviceToken``,
  ``PayloadEmpty``, ``413 PayloadTooLarge``...) and answered with the real JSON error bodies;
* ``200`` echoes ``apns-id`` (or a fresh one when the request had none).

Faults are scripted per device token, one outcome consumed per request (then ``ok`` again):
``ok`` · ``unregistered`` · ``expired_token`` (410) · ``bad_device_token`` ·
``reason:<Reason>`` (status from Apple's table) · ``throttle:<seconds>`` (429 + Retry-After) ·
``unavailable`` (503) · ``internal`` (500) · ``slow:<seconds>`` (answer late) ·
``drop`` (abort the connection, no answer) · ``goaway`` (GOAWAY carrying {"reason":"Shutdown"}).

Every request that reaches the fake is recorded (``records``; ``accepted`` holds the 200s) and
every TLS connection is counted (``connections``). Run standalone (for benchmarks, in a process
of its own): ``python -m tests.fakes.apns --app TEAM:KEY:TOPIC:PUBLIC_KEY.pem``; it prints one
JSON line ``{"base_url": ..., "ca_bundle": ...}`` and serves until SIGTERM or stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import ssl
import sys
import tempfile
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TOKEN_MAX_AGE = 3600.0  # iat older than this → ExpiredProviderToken
TOKEN_MIN_REFRESH = 20 * 60.0  # a connection's token changing sooner → TooManyProviderTokenUpdates
PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "location",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
    }
)
# Apple's status for each reason (handling-notification-responses-from-apns).
REASON_STATUS = {
    **dict.fromkeys(
        (
            "BadCollapseId",
            "BadDeviceToken",
            "BadExpirationDate",
            "BadMessageId",
            "BadPriority",
            "BadTopic",
            "DeviceTokenNotForTopic",
            "DuplicateHeaders",
            "IdleTimeout",
            "InvalidPushType",
            "MissingDeviceToken",
            "MissingTopic",
            "PayloadEmpty",
            "TopicDisallowed",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "BadCertificate",
            "BadCertificateEnvironment",
            "ExpiredProviderToken",
            "Forbidden",
            "InvalidProviderToken",
            "MissingProviderToken",
            "BadEnvironmentKeyInToken",
        ),
        403,
    ),
    "BadPath": 404,
    "MethodNotAllowed": 405,
    "Unregistered": 410,
    "ExpiredToken": 410,
    "PayloadTooLarge": 413,
    "TooManyProviderTokenUpdates": 429,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "Shutdown": 503,
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_PATH = "/3/device/"


@dataclass(frozen=True)
class ApnsRequest:
    """One request the fake answered (``payload`` is None when it never got that far)."""

    token: str
    headers: dict[str, str]
    payload: dict[str, Any] | None
    status: int
    reason: str | None
    apns_id: str
    connection: int  # 1-based number of the connection it came on
    jwt: str | None  # the provider token it carried


@dataclass
class _Key:
    public_key: ec.EllipticCurvePublicKey
    topics: set[str]


@dataclass
class _Answer:
    status: int
    reason: str | None = None
    retry_after: str | None = None


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)


class ApnsFake:
    """The fake server: register keys, script faults, start, read ``records``, close."""

    def __init__(
        self,
        *,
        max_payload: int = 4096,
        initial_streams: int = 1,
        raised_streams: int = 1000,
        initial_window: int | None = None,
        record: bool = True,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.max_payload = max_payload
        self.initial_streams = initial_streams
        self.raised_streams = raised_streams
        self.initial_window = initial_window  # SETTINGS_INITIAL_WINDOW_SIZE; None: h2's 65,535
        self.record = record
        self.now = now  # the fake's wall clock (epoch seconds): token ages are measured with it
        self.records: list[ApnsRequest] = []
        self.connections = 0
        self.peak_streams = 0  # most requests ever in flight on one connection
        self.answered = 0
        self._keys: dict[tuple[str, str], _Key] = {}
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._verified: dict[str, tuple[str, str, int]] = {}  # jwt → (team, key, iat)
        self._server: asyncio.Server | None = None
        self._live: set[_Connection] = set()
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.base_url = ""
        self.ca_bundle = ""

    # --- set-up -----------------------------------------------------------------------------

    def register(
        self, team_id: str, key_id: str, public_key: ec.EllipticCurvePublicKey | str, *topics: str
    ) -> None:
        """Trust ``public_key`` (object or PEM) as (team_id, key_id), allowed to push ``topics``."""
        if isinstance(public_key, str):
            loaded = serialization.load_pem_public_key(public_key.encode())
            assert isinstance(loaded, ec.EllipticCurvePublicKey)
            public_key = loaded
        key = self._keys.setdefault((team_id, key_id), _Key(public_key, set()))
        key.public_key = public_key
        key.topics.update(topics)

    def new_key(self, team_id: str, key_id: str, *topics: str) -> str:
        """A fresh P-256 signing key registered for ``topics``; returns its private PEM (.p8)."""
        private = ec.generate_private_key(ec.SECP256R1())
        self.register(team_id, key_id, private.public_key(), *topics)
        return private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def script(self, token: str, *outcomes: str) -> None:
        """Queue outcomes for ``token``'s next requests, one per request (then ``ok`` again)."""
        self._scripts[token].extend(outcomes)

    @property
    def accepted(self) -> list[ApnsRequest]:
        return [r for r in self.records if r.status == 200]

    def requests_for(self, token: str) -> list[ApnsRequest]:
        return [r for r in self.records if r.token == token]

    # --- lifecycle --------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, workdir: str | None = None
    ) -> None:
        if workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="apns-fake-")
            workdir = self._workdir.name
        ca = trustme.CA()
        ca_path = Path(workdir) / "apns-fake-ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        context.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, ssl=context)
        bound = self._server.sockets[0].getsockname()
        self.base_url = f"https://{bound[0]}:{bound[1]}"
        self.ca_bundle = str(ca_path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for connection in list(self._live):
                connection.abort()
            await self._server.wait_closed()
            self._server = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def drop_all(self) -> None:
        """Abort every open connection (a network cut)."""
        for connection in list(self._live):
            connection.abort()

    # --- the API ----------------------------------------------------------------------------

    def _verify(self, connection: _Connection, authorization: str | None) -> _Answer | _Key:
        """Check the provider token: the refusal, or the signing key it proved."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return _Answer(403, "MissingProviderToken")
        token = authorization[7:].strip()
        known = self._verified.get(token)
        if known is None:
            try:
                header = jwt.get_unverified_header(token)
                claims = jwt.decode(token, options={"verify_signature": False})
                team_id, key_id = str(claims.get("iss", "")), str(header.get("kid", ""))
                key = self._keys.get((team_id, key_id))
                if key is None or header.get("alg") != "ES256":
                    return _Answer(403, "InvalidProviderToken")
                verified = jwt.decode(
                    token,
                    key.public_key,
                    algorithms=["ES256"],
                    options={"verify_iat": False, "require": ["iss", "iat"]},
                )
                known = (team_id, key_id, int(verified["iat"]))
            except (jwt.PyJWTError, TypeError, ValueError):
                return _Answer(403, "InvalidProviderToken")
            self._verified[token] = known
        team_id, key_id, iat = known
        if self.now() - iat > TOKEN_MAX_AGE:
            return _Answer(403, "ExpiredProviderToken")
        last = connection.iat
        if last is not None and iat > last and iat - last < TOKEN_MIN_REFRESH:
            return _Answer(429, "TooManyProviderTokenUpdates")
        # An older token still in flight after a re-mint is fine; only a newer one is an update.
        connection.iat = max(iat, connection.iat or iat)
        return self._keys[(team_id, key_id)]

    def _answer(
        self, connection: _Connection, stream: _Stream
    ) -> tuple[_Answer, str, dict[str, Any] | None, str | None]:
        """Validate one request; returns the answer, the device token, the payload, the JWT."""
        headers: dict[str, str] = {}
        duplicate = False
        for name, value in stream.headers:
            duplicate = duplicate or (name in headers and name.startswith("apns-"))
            headers[name] = value
        path = headers.get(":path", "")
        token = path[len(_PATH) :] if path.startswith(_PATH) else ""
        authorization = headers.get("authorization")
        bearer = authorization[7:].strip() if authorization else None
        if headers.get(":method") != "POST":
            return _Answer(405, "MethodNotAllowed"), token, None, bearer
        if not path.startswith(_PATH) or "/" in token:
            return _Answer(404, "BadPath"), token, None, bearer
        key = self._verify(connection, authorization)
        if isinstance(key, _Answer):
            return key, token, None, bearer
        if not connection.raised:
            connection.raise_streams()
        topic = headers.get("apns-topic")
        problem: str | None = None
        if duplicate:
            problem = "DuplicateHeaders"
        elif not token:
            problem = "MissingDeviceToken"
        elif not _HEX.match(token):
            problem = "BadDeviceToken"
        elif not topic:
            problem = "MissingTopic"
        elif topic not in key.topics:
            problem = "BadTopic"
        elif headers.get("apns-push-type") not in PUSH_TYPES:
            problem = "InvalidPushType"
        elif not _is_int(headers.get("apns-expiration", "0")):
            problem = "BadExpirationDate"
        elif "apns-id" in headers and not _UUID.match(headers["apns-id"]):
            problem = "BadMessageId"
        elif headers.get("apns-priority", "10") not in ("10", "5", "1"):
            problem = "BadPriority"
        elif len(headers.get("apns-collapse-id", "").encode()) > 64:
            problem = "BadCollapseId"
        if problem:
            return _Answer(400, problem), token, None, bearer
        if not stream.body:
            return _Answer(400, "PayloadEmpty"), token, None, bearer
        if len(stream.body) > self.max_payload:
            return _Answer(413, "PayloadTooLarge"), token, None, bearer
        try:
            payload = json.loads(stream.body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            # Apple documents no reason for a malformed payload; this one is the fake's own.
            return _Answer(400, "BadPayload"), token, None, bearer
        return _Answer(200), token, payload, bearer

    def _handle(self, connection: _Connection, stream_id: int, stream: _Stream) -> None:
        headers = dict(stream.headers)
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        answer, token, payload, bearer = self._answer(connection, stream)
        delay = 0.0
        if answer.status == 200 and self._scripts.get(token):
            outcome = self._scripts[token].popleft()
            name, _, argument = outcome.partition(":")
            if name == "drop":
                self._record(
                    connection, token, headers, payload, _Answer(0, "drop"), apns_id, bearer
                )
                connection.abort()
                return
            if name == "goaway":
                self._record(
                    connection, token, headers, payload, _Answer(0, "goaway"), apns_id, bearer
                )
                connection.goaway(stream_id, "Shutdown")
                return
            if name == "slow":
                delay = float(argument)
            else:
                answer = _scripted(name, argument)
        self._record(connection, token, headers, payload, answer, apns_id, bearer)
        if delay:
            connection.later(delay, stream_id, answer, apns_id)
        else:
            connection.respond(stream_id, answer, apns_id)

    def _record(
        self,
        connection: _Connection,
        token: str,
        headers: dict[str, str],
        payload: dict[str, Any] | None,
        answer: _Answer,
        apns_id: str,
        bearer: str | None,
    ) -> None:
        self.answered += 1
        if self.record:
            self.records.append(
                ApnsRequest(
                    token=token,
                    headers=headers,
                    payload=payload,
                    status=answer.status,
                    reason=answer.reason,
                    apns_id=apns_id,
                    connection=connection.number,
                    jwt=bearer,
                )
            )


def _is_int(value: str) -> bool:
    return value.isdigit()


def _scripted(name: str, argument: str) -> _Answer:
    if name == "ok":
        return _Answer(200)
    if name == "unregistered":
        return _Answer(410, "Unregistered")
    if name == "expired_token":
        return _Answer(410, "ExpiredToken")
    if name == "bad_device_token":
        return _Answer(400, "BadDeviceToken")
    if name == "throttle":
        return _Answer(429, "TooManyRequests", retry_after=argument or None)
    if name == "unavailable":
        return _Answer(503, "ServiceUnavailable")
    if name == "internal":
        return _Answer(500, "InternalServerError")
    if name == "reason":
        return _Answer(REASON_STATUS.get(argument, 400), argument)
    raise ValueError(f"unknown APNs fake outcome: {name!r}")


class _Connection(asyncio.Protocol):
    """One client connection: the h2 state machine between the socket and ``ApnsFake``."""

    def __init__(self, fake: ApnsFake) -> None:
        self.fake = fake
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.number = 0
        self.iat: int | None = None  # the provider token's iat this connection last used
        self.raised = False
        self.in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.fake.connections += 1
        self.number = self.fake.connections
        self.fake._live.add(self)
        settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.fake.initial_streams}
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.h2.initiate_connection()
        if self.fake.initial_window is not None:
            # As a real server's window: in force once the client acknowledges it. Data sent
            # before that counts against the protocol's default 65,535 (RFC 9113 §6.9.2).
            self.h2.update_settings(
                {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.fake.initial_window}
            )
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fake._live.discard(self)
        for task in self._tasks:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            # HTTP/1.1 or a broken client: h2 has queued a GOAWAY; send it and hang up.
            self.flush()
            self.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = cast(list[tuple[str, str]], event.headers)  # header_encoding=utf-8
                self.streams[event.stream_id] = _Stream(headers)
                self.in_flight += 1
                self.fake.peak_streams = max(self.fake.peak_streams, self.in_flight)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    self.fake._handle(self, event.stream_id, stream)
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

    def raise_streams(self) -> None:
        self.raised = True
        self.h2.update_settings(
            {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.fake.raised_streams}
        )

    def respond(self, stream_id: int, answer: _Answer, apns_id: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.streams.pop(stream_id, None) is not None:
            self.in_flight -= 1
        headers = [(":status", str(answer.status)), ("apns-id", apns_id)]
        try:
            if answer.status == 200:
                self.h2.send_headers(stream_id, headers, end_stream=True)
                return
            body: dict[str, Any] = {"reason": answer.reason}
            if answer.status == 410:
                body["timestamp"] = int(self.fake.now() * 1000)
            data = json.dumps(body).encode()
            headers.append(("content-type", "application/json"))
            headers.append(("content-length", str(len(data))))
            if answer.retry_after is not None:
                headers.append(("retry-after", answer.retry_after))
            self.h2.send_headers(stream_id, headers)
            self.h2.send_data(stream_id, data, end_stream=True)
        except h2.exceptions.H2Error:
            pass  # the client reset the stream meanwhile

    def later(self, delay: float, stream_id: int, answer: _Answer, apns_id: str) -> None:
        async def answer_later() -> None:
            await asyncio.sleep(delay)
            self.respond(stream_id, answer, apns_id)
            self.flush()

        task = asyncio.get_running_loop().create_task(answer_later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def goaway(self, stream_id: int, reason: str) -> None:
        """A fatal error: GOAWAY carrying the JSON reason, without answering ``stream_id``."""
        self.h2.close_connection(
            error_code=h2.errors.ErrorCodes.NO_ERROR,
            additional_data=json.dumps({"reason": reason}).encode(),
            last_stream_id=stream_id,
        )
        self.flush()
        self.close()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[ApnsFake]:
    """An ``ApnsFake`` listening on 127.0.0.1 (a free port) for the block's duration."""
    fake = ApnsFake(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


# --- standalone process (benchmarks) ----------------------------------------------------------


async def _serve(arguments: argparse.Namespace) -> None:
    fake = ApnsFake(record=arguments.record)
    for app in arguments.app:
        team_id, key_id, topic, pem_path = app.split(":", 3)
        fake.register(team_id, key_id, Path(pem_path).read_text(), topic)
    await fake.start(arguments.host, arguments.port, workdir=arguments.workdir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if arguments.exit_on_stdin_eof:  # the parent died: don't outlive it
        loop.add_reader(sys.stdin.fileno(), lambda: None if sys.stdin.read(1) else stop.set())
    print(json.dumps({"base_url": fake.base_url, "ca_bundle": fake.ca_bundle}), flush=True)
    await stop.wait()
    await fake.close()
    print(json.dumps({"answered": fake.answered, "connections": fake.connections}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="where the CA PEM goes")
    parser.add_argument(
        "--app", action="append", default=[], help="TEAM:KEY:TOPIC:PUBLIC_KEY_PEM_FILE"
    )
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    arguments = parser.parse_args()
    try:
        import uvloop  # the fake should not be the bottleneck of a benchmark
    except ImportError:
        asyncio.run(_serve(arguments))
    else:
        uvloop.run(_serve(arguments))


if __name__ == "__main__":
    main()
