"""Apple Push Notification service: HTTP/2 with token (.p8, ES256 JWT) authentication.

One long-lived HTTP/2 connection per APNs host and signing key (Apple: one team per connection;
keep connections open, rapid reconnects look like abuse), opened on the first send and shared by
every concurrent send of every app of that key. The provider token is minted once and reused
until it is ``token_max_age`` old (Apple: no more often than every 20 minutes, at least every
60), and at once when APNs answers ``ExpiredProviderToken``.

Each send has its own deadline, so one slow answer fails only its own push, not the streams
sharing the connection; a connection that answered nothing at all while a send waited is
retired and the next send opens a fresh one.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import h2.exceptions
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from parlay.channels.base import Accepted, Rejected, RetryLater, SendResult
from parlay.channels.http import make_client
from parlay.channels.push import ApnsCredentials, PushApp, PushNotification
from parlay.clock import Clock, SystemClock
from parlay.outbound.status import ErrorCode, ErrorSource

__all__ = ["MAX_PAYLOAD_BYTES", "ApnsClient", "apns_id", "apns_payload"]

SOURCE = ErrorSource.APNS
MAX_PAYLOAD_BYTES = 4096
MAX_COLLAPSE_ID_BYTES = 64
# apns-id = uuid5(namespace, pushMessageId): the same delivery always carries the same apns-id,
# so a retried push is recognisable at Apple and in our logs. Never change this value.
APNS_ID_NAMESPACE = uuid.UUID("6f1b7c3e-2a44-5d8e-9c1a-0b5e4f7d2a91")
# Apple's rules for re-minting the provider token.
MIN_TOKEN_AGE = timedelta(minutes=20)
MAX_TOKEN_AGE = timedelta(minutes=60)
# 400 reasons that mean this token can never receive this app's pushes: a malformed token, or
# one issued to another bundle ID (or, for BadDeviceToken, to the other APNs environment — the
# app's environment setting decides which tokens can work). Sending it again only repeats the
# failure, so the token is disabled like an unregistered one.
DEAD_TOKEN_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})
# How long an idle connection stays open (httpx closes it after this; the next send reopens).
IDLE_SECONDS = 600.0


def apns_id(push_message_id: str) -> str:
    """The apns-id of a delivery: stable across retries, lowercase canonical UUID."""
    return str(uuid.uuid5(APNS_ID_NAMESPACE, push_message_id))


def apns_payload(note: PushNotification) -> bytes:
    """The notification as APNs JSON: an alert with sound, plus the SDK's fields beside ``aps``."""
    alert: dict[str, str] = {"body": note.message}
    if note.title:
        alert = {"title": note.title, **alert}
    body: dict[str, Any] = {"aps": {"alert": alert, "sound": "default"}, **note.payload_fields()}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class _ProviderToken:
    value: str
    minted_at: float  # epoch seconds by the client's clock


@dataclass(eq=False)
class _Link:
    """One HTTP/2 connection (an httpx client limited to one connection) to one APNs host."""

    client: httpx.AsyncClient
    in_flight: int = 0
    last_answer: float = 0.0  # time.monotonic() of the last response of any stream
    retired: bool = False


class ApnsClient:
    """``PushClient`` for APNs. Construct freely (no I/O); ``close()`` ends the connections."""

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        token_max_age: timedelta = timedelta(minutes=40),
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        if not MIN_TOKEN_AGE <= token_max_age <= MAX_TOKEN_AGE:
            raise ValueError("APNs provider tokens must be re-minted every 20 to 60 minutes")
        self._ca_bundle = ca_bundle
        self._token_max_age = token_max_age.total_seconds()
        self._timeout = timeout
        self._clock = clock or SystemClock()
        self._links: dict[tuple[str, str, str], _Link] = {}
        self._retired: set[_Link] = set()
        self._tokens: dict[tuple[str, str, str], _ProviderToken] = {}
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}

    async def push(self, app: PushApp, note: PushNotification) -> SendResult:
        credentials = app.apns
        if credentials is None:
            return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, "app has no APNs credentials")
        payload = apns_payload(note)
        if len(payload) > MAX_PAYLOAD_BYTES:
            return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, "PayloadTooLarge")
        headers = {
            "apns-topic": app.app_id,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": str(int(note.expires_at.timestamp())),
            "apns-id": apns_id(note.push_message_id),
        }
        if note.collapse_id is not None:
            if len(note.collapse_id.encode()) > MAX_COLLAPSE_ID_BYTES:
                return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, "BadCollapseId")
            headers["apns-collapse-id"] = note.collapse_id
        url = f"{credentials.base_url}/3/device/{quote(note.token, safe='')}"
        rejected_token: str | None = None
        while True:
            token = self._provider_token(credentials, rejected=rejected_token)
            headers["authorization"] = f"bearer {token}"
            answer = await self._post(credentials, url, payload, headers)
            if isinstance(answer, RetryLater):
                return answer
            reason = _reason(answer)
            if answer.status_code == 403 and reason == "ExpiredProviderToken":
                if rejected_token is None:  # re-mint, then try this push once more
                    rejected_token = token
                    continue
            return self._result(answer, reason, note)

    async def close(self) -> None:
        links = [*self._links.values(), *self._retired]
        self._links.clear()
        self._retired.clear()
        for link in links:
            await link.client.aclose()

    # --- internals --------------------------------------------------------------------------

    async def _post(
        self, credentials: ApnsCredentials, url: str, payload: bytes, headers: dict[str, str]
    ) -> httpx.Response | RetryLater:
        link = self._link(credentials)
        link.in_flight += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                response = await link.client.post(url, content=payload, headers=headers)
            link.last_answer = time.monotonic()
            return response
        except TimeoutError:
            if link.last_answer < started:
                self._retire(credentials, link)
            return RetryLater(SOURCE, f"no answer within {self._timeout:g} s")
        except (httpx.TransportError, h2.exceptions.H2Error) as exc:
            # Timeouts of httpx itself, refused or lost connections, GOAWAY: httpx drops the
            # broken connection and the next send opens a new one.
            return RetryLater(SOURCE, f"{type(exc).__name__}: {exc}".rstrip(": "))
        finally:
            link.in_flight -= 1
            if link.retired and link.in_flight == 0:
                self._retired.discard(link)
                await link.client.aclose()

    def _result(self, response: httpx.Response, reason: str, note: PushNotification) -> SendResult:
        status = response.status_code
        if status == 200:
            return Accepted(
                SOURCE, response.headers.get("apns-id") or apns_id(note.push_message_id)
            )
        if status == 410 or (status == 400 and reason in DEAD_TOKEN_REASONS):
            return Rejected(SOURCE, ErrorCode.TOKEN_UNREGISTERED, reason, dead_tokens=(note.token,))
        if status == 429 or status >= 500:
            return RetryLater(SOURCE, reason, _retry_after(response, self._clock))
        return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, reason)

    def _link(self, credentials: ApnsCredentials) -> _Link:
        key = (credentials.base_url, credentials.team_id, credentials.key_id)
        link = self._links.get(key)
        if link is None:
            client = make_client(
                http2=True,
                ca_bundle=self._ca_bundle,
                # The per-send deadline (``timeout``) comes first; httpx's own read timeout is
                # the backstop that declares a silent connection dead.
                timeout=httpx.Timeout(self._timeout * 2, connect=self._timeout),
                max_connections=1,
                keepalive_expiry=IDLE_SECONDS,
            )
            link = self._links[key] = _Link(client)
        return link

    def _retire(self, credentials: ApnsCredentials, link: _Link) -> None:
        """Stop using a connection that went silent; it closes when its last send ends."""
        key = (credentials.base_url, credentials.team_id, credentials.key_id)
        if self._links.get(key) is link:
            del self._links[key]
        if not link.retired:
            link.retired = True
            self._retired.add(link)

    def _provider_token(self, credentials: ApnsCredentials, *, rejected: str | None) -> str:
        """The cached JWT, re-minted when too old or when APNs just rejected it as expired."""
        key = (credentials.team_id, credentials.key_id, credentials.private_key_pem)
        now = self._clock.now().timestamp()
        cached = self._tokens.get(key)
        # Concurrent sends may all see ExpiredProviderToken: only the first re-mints.
        if (
            cached is not None
            and now - cached.minted_at < self._token_max_age
            and cached.value != rejected
        ):
            return cached.value
        signing_key = self._keys.get(credentials.private_key_pem)
        if signing_key is None:
            loaded = serialization.load_pem_private_key(
                credentials.private_key_pem.encode(), password=None
            )
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError("an APNs signing key must be an EC P-256 (.p8) key")
            signing_key = self._keys[credentials.private_key_pem] = loaded
        value = jwt.encode(
            {"iss": credentials.team_id, "iat": int(now)},
            signing_key,
            algorithm="ES256",
            headers={"kid": credentials.key_id},
        )
        self._tokens[key] = _ProviderToken(value, now)
        return value


def _reason(response: httpx.Response) -> str:
    """APNs's ``reason`` from an error body, else the HTTP status."""
    if response.status_code == 200:
        return ""
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) and reason else f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response, clock: Clock) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent or bad."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())
