"""A loopback fake of a brand's push proxy: the receiver side of ``parlay.channels.pushproxy``.

It checks what a careful brand would: Basic auth and the custom headers when configured, and
the ``X-Parlay-Signature`` header (HMAC-SHA256 over ``<t>.<raw body>`` with the shared secret,
``t`` within ``tolerance`` seconds of its clock) — implemented here from the documented format,
not with Parlay's code, so a client that signs wrongly fails. Refusals answer 401 (LivePerson's
"auth denied"); a body that is not the documented JSON answers 400.

Faults are scripted per device token, one outcome consumed per request (then normal):
``forbidden`` (403: the token cannot take pushes) · ``unauthorized`` (401) · ``error`` (500) ·
``busy:<retry-after>`` (429) · ``status:<code>`` · ``answer:<code>:<body>`` (any words) ·
``slow:<seconds>`` (answer late) ·
``drop`` (close the connection without an answer).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ssl
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.loopback import LoopbackServer, Request, Response

SIGNATURE_HEADER = "x-parlay-signature"
REQUIRED_FIELDS = ("pushService", "platform", "deviceToken", "notification", "pushMessageId")


@dataclass(frozen=True)
class ProxyPush:
    """A push the proxy accepted."""

    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]


def verify_signature(
    secret: str, header: str, body: bytes, now: float, tolerance: float = 300
) -> str | None:
    """Why this signature header does not vouch for ``body`` (None when it does)."""
    fields: dict[str, list[str]] = defaultdict(list)
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name].append(value)
    if len(fields["t"]) != 1 or not fields["t"][0].isdigit() or not fields["v1"]:
        return "malformed signature header"
    timestamp = fields["t"][0]
    if abs(now - int(timestamp)) > tolerance:
        return "signature timestamp outside the tolerance window"
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    if not any(hmac.compare_digest(mac.hexdigest(), v1) for v1 in fields["v1"]):
        return "signature mismatch"
    return None


class PushProxyFake:
    def __init__(
        self,
        *,
        secret: str,
        basic_auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        tolerance: float = 300,
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
        path: str = "/push",
    ) -> None:
        self.secret = secret
        self.basic_auth = basic_auth
        self.required_headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.tolerance = tolerance
        self.clock = clock
        self.path = path
        self.server = LoopbackServer(self._handle, ssl_context=ssl_context)
        self.requests: list[Request] = []
        self.refusals: list[str] = []  # why each refused request was refused
        self.pushes: list[ProxyPush] = []
        self._scripts: dict[str, deque[str]] = defaultdict(deque)

    @property
    def url(self) -> str:
        return f"{self.server.url}{self.path}"

    def script(self, token: str, *outcomes: str) -> None:
        """Outcomes for the next pushes to this device token, one per request."""
        self._scripts[token].extend(outcomes)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    async def _handle(self, request: Request) -> Response | None:
        self.requests.append(request)
        if request.method != "POST" or request.path != self.path:
            return Response(404, b"not found")
        refusal = self._refusal(request)
        if refusal is not None:
            self.refusals.append(refusal)
            return Response.json(401, {"error": refusal})
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return Response.json(415, {"error": "content type is not application/json"})
        try:
            body = request.json()
        except ValueError:
            return Response.json(400, {"error": "body is not JSON"})
        missing = [f for f in REQUIRED_FIELDS if not isinstance(body, dict) or f not in body]
        if missing or body["pushService"] not in ("apns", "fcm"):
            return Response.json(400, {"error": f"bad push document: missing {missing}"})
        outcome = self._scripts[body["deviceToken"]]
        name, _, argument = (outcome.popleft() if outcome else "ok").partition(":")
        if name == "slow":
            await asyncio.sleep(float(argument))
        elif name == "drop":
            return None
        elif name == "forbidden":
            return Response.json(403, {"error": "token cannot take pushes"})
        elif name == "unauthorized":
            return Response.json(401, {"error": "auth denied"})
        elif name == "error":
            return Response.json(500, {"error": "internal error"})
        elif name == "busy":
            return Response.json(429, {"error": "slow down"}, (("retry-after", argument),))
        elif name == "status":
            return Response(int(argument), f"proxy says {argument}".encode())
        elif name == "answer":
            status, _, text = argument.partition(":")
            return Response(int(status), text.encode(), (("content-type", "text/plain"),))
        elif name != "ok":
            raise ValueError(f"unknown push proxy fake outcome: {name}")
        self.pushes.append(ProxyPush(body, request.body, request.headers))
        return Response.json(200, {"status": "ok"})

    def _refusal(self, request: Request) -> str | None:
        if self.basic_auth is not None:
            expected = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Basic {expected}".encode()):
                return "bad basic auth"
        for name, value in self.required_headers.items():
            if request.headers.get(name) != value:
                return f"missing or wrong header {name}"
        header = request.headers.get(SIGNATURE_HEADER)
        if header is None:
            return "no signature"
        return verify_signature(self.secret, header, request.body, self.clock(), self.tolerance)


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[PushProxyFake]:
    """A push proxy fake serving on 127.0.0.1 for the duration of the block."""
    fake = PushProxyFake(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
