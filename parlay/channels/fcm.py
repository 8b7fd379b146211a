"""FCM HTTP v1: one data message per Android device, authorised by the app's service account.

``messages:send`` goes over one long-lived HTTP/2 connection per FCM host (the host and port of
``base_url``), libcurl's through ``parlay.lib.http.h2curl``, opened by the first
send and shared by every concurrent send of every app and project on that host: each send is a
stream, at most as many at once as the server's ``SETTINGS_MAX_CONCURRENT_STREAMS`` (the others
wait for a free stream). Each send has its own deadline, so one slow answer fails only its own
push; a connection that answered nothing while a send waited is retired and the next send opens
a fresh one. After a GOAWAY, a reset stream or a lost connection the sends that were on it are
retried later (``RetryLater``; libcurl may first send one again at once on a fresh connection)
and new sends open a new connection; a send that got no stream before the connection went away
takes the new connection at once (nothing was sent).

Access tokens come from the OAuth 2.0 JWT-bearer grant: google-auth signs the RS256 assertion
with the service account's key, and the exchange with the account's ``token_uri`` goes through
httpx (another host, rarely used), so no send ever waits on google-auth's synchronous
transport. A token is cached per service account, renewed five minutes before it expires, and
renewed once more when FCM answers 401 without an FcmError (a token it no longer honours).

``data`` carries the SDK's push fields as strings. Android devices get a data-only message
(the SDK builds the notice) with ``android.ttl`` = the rest of the lookback; iOS devices of an
FCM app also get an ``apns`` alert, since APNs shows nothing else, expiring with the lookback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
from google.auth import crypt, jwt
from google.auth.exceptions import GoogleAuthError

from parlay.channels.base import Accepted, Rejected, RetryLater, SendResult
from parlay.channels.push import FcmCredentials, PushApp, PushNotification
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.clock import Clock, SystemClock
from parlay.lib.http.client import (
    DEFAULT_TIMEOUT,
    code_word,
    make_client,
    retry_after_seconds,
)
from parlay.lib.http.h2curl import ConnectError, ConnectionPool, Http2Error, Response
from parlay.lib.http.urls import BlockedAddress, UrlPolicy

SOURCE = ErrorSource.FCM
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 3600  # Google refuses assertions valid for more than an hour
REFRESH_MARGIN_SECONDS = 300.0
MAX_PAYLOAD_BYTES = 4096
MAX_TTL_SECONDS = 2_419_200  # four weeks, FCM's ceiling
QUOTA_RETRY_AFTER_SECONDS = 60.0  # FCM: back off at least a minute after QUOTA_EXCEEDED
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# How long an idle connection stays open (it closes itself after this; the next send reopens).
IDLE_SECONDS = 600.0
_JSON = "application/json"
# Descriptions Google's token endpoint gives for a refused service account, repeated in a
# delivery's errorMessage because they are known (other descriptions are the endpoint's words).
KNOWN_TOKEN_ERRORS = frozenset(
    {
        "Invalid JWT Signature.",
        "Invalid grant: account not found",
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
        "timeframe. Check your iat and exp values in the JWT claim.",
    }
)
_INVALID_TOKEN = re.compile(r"registration token.*(not a valid|invalid)|invalid registration", re.I)


def data_payload(note: PushNotification) -> dict[str, str]:
    """The push fields as FCM data: a map of strings only (campaignInfo as compact JSON)."""
    data = {key: _as_string(value) for key, value in note.payload_fields().items()}
    if note.title is not None:
        data["title"] = note.title
    return data


def fcm_message(note: PushNotification, data: dict[str, str], ttl: int) -> dict[str, Any]:
    """The v1 ``message`` for one device: data for the SDK, plus how the platform delivers it."""
    message: dict[str, Any] = {"token": note.token, "data": data}
    if note.platform == "android":
        android: dict[str, Any] = {"priority": "HIGH", "ttl": f"{ttl}s"}
        if note.collapse_id is not None:
            android["collapse_key"] = note.collapse_id
        message["android"] = android
    else:
        # An iOS app behind FCM: FCM forwards to APNs, which shows only what ``aps`` holds
        # (data keys arrive beside it), so the alert is spelled out as on the APNs path.
        headers = {
            "apns-priority": "10",
            "apns-push-type": "alert",
            "apns-expiration": str(int(note.expires_at.timestamp())),
        }
        if note.collapse_id is not None:
            headers["apns-collapse-id"] = note.collapse_id
        alert = {"body": note.message}
        if note.title:
            alert = {"title": note.title, **alert}
        aps = {"alert": alert, "sound": "default"}
        message["apns"] = {"headers": headers, "payload": {"aps": aps}}
    return message


def _alert_bytes(note: PushNotification) -> bytes:
    return f"{note.title or ''}{note.message}".encode()


def payload_size(data: dict[str, str]) -> int:
    """Bytes FCM counts against its 4096-byte limit: the data keys and values."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in data.items())


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class _ServiceAccount:
    key: str  # identifies the account and its key: a rotated key gets a token of its own
    email: str
    token_uri: str
    signer: crypt.Signer


@dataclass(frozen=True)
class _AccessToken:
    value: str
    expires_at: float
    renew_at: float


class _Stop(Exception):
    """Ends a push early with this result (token endpoint refused, provider unreachable)."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result)
        self.result = result


@dataclass(frozen=True)
class _GoogleError:
    """What Parlay reads of a Google error body: its codes (``status``, the FcmError
    ``errorCode``) when they are code words, and whether it says the token is invalid. Google's
    ``message`` is read to classify, never repeated: a delivery's ``errorMessage`` carries the
    status and the code only (the endpoint answering may be anyone's)."""

    http_status: int
    status: str | None
    fcm_code: str | None
    token_invalid: bool

    @classmethod
    def of(cls, response: Response) -> _GoogleError:
        try:
            error = json.loads(response.body).get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, dict):
            return cls(response.status, None, None, False)
        fcm_code = None
        token_violation = False
        for detail in error.get("details") or []:
            if not isinstance(detail, dict):
                continue
            if detail.get("@type") == FCM_ERROR_TYPE:
                fcm_code = code_word(detail.get("errorCode"))
            elif detail.get("@type") == BAD_REQUEST_TYPE:
                token_violation = token_violation or any(
                    isinstance(v, dict) and v.get("field") == "message.token"
                    for v in detail.get("fieldViolations") or []
                )
        message = error.get("message")
        said_invalid = isinstance(message, str) and bool(_INVALID_TOKEN.search(message))
        return cls(
            response.status,
            code_word(error.get("status")),
            fcm_code,
            response.status == 400 and (token_violation or said_invalid),
        )

    @property
    def reason(self) -> str:
        """``<code>: FCM answered <status>`` (with what Parlay understood of an invalid
        token), or the status alone when the answer named no code."""
        answered = f"FCM answered {self.http_status}"
        code = self.fcm_code or self.status
        if code is None:
            return answered
        if self.token_invalid:
            return f"{code}: not a valid FCM registration token ({answered})"
        return f"{code}: {answered}"


_Host = tuple[str, int]  # (host, port) of an FCM endpoint: one HTTP/2 connection each


class FcmClient:
    """PushClient for FCM HTTP v1. Safe for concurrent sends; one token request per service
    account at a time however many sends wait for it. Construct freely (no I/O); ``close()``
    ends the connections.

    ``timeout`` is each send's deadline (an ``httpx.Timeout``: its read timeout, with its
    connect timeout for opening a connection) and the token endpoint's timeouts.
    ``max_connections`` bounds the token endpoint's connection pool.
    """

    def __init__(
        self,
        *,
        urls: UrlPolicy,
        ca_bundle: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        max_connections: int = 100,
    ) -> None:
        self._urls = urls
        self._ca_bundle = ca_bundle
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._deadline = self._timeout.read or DEFAULT_TIMEOUT.read or 10.0
        self._connect_timeout = self._timeout.connect or self._deadline
        self._clock = clock or SystemClock()  # signs assertions and ages tokens
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None  # made on first use: no I/O here
        self._pool: ConnectionPool[_Host] = ConnectionPool(
            urls=urls,
            ca_bundle=ca_bundle,
            connect_timeout=self._connect_timeout,
            idle_timeout=IDLE_SECONDS,
        )
        self._accounts: dict[str, _ServiceAccount] = {}
        self._tokens: dict[str, _AccessToken] = {}
        self._token_locks: dict[str, asyncio.Lock] = {}

    async def push(self, app: PushApp, note: PushNotification) -> SendResult:
        if app.fcm is None:
            return Rejected(
                ErrorSource.PARLAY,
                ErrorCode.PROVIDER_REJECTED,
                f"app {app.app_id} has no FCM service account",
            )
        ttl = self._ttl(note)
        if ttl <= 0:
            return Rejected(ErrorSource.PARLAY, ErrorCode.EXPIRED, "the lookback ended")
        data = data_payload(note)
        size = payload_size(data) + (len(_alert_bytes(note)) if note.platform == "ios" else 0)
        if size > MAX_PAYLOAD_BYTES:
            return Rejected(
                SOURCE,
                ErrorCode.PROVIDER_REJECTED,
                f"payload of {size} bytes exceeds FCM's {MAX_PAYLOAD_BYTES}-byte limit",
            )
        body = {"message": fcm_message(note, data, ttl)}
        content = orjson.dumps(body)  # compact, UTF-8 as is (json.dumps took 15 times longer)
        try:
            host, path = _endpoint(app.fcm)
            account = self._account(app.fcm)
            token = await self._token(account)
            response = await self._send(host, path, content, token)
            if _token_refused(response):
                # FCM no longer honours the token (revoked, or our clock is off): renew once.
                self._forget(account, token)
                token = await self._token(account)
                response = await self._send(host, path, content, token)
                if _token_refused(response):
                    reason = _GoogleError.of(response).reason
                    return Rejected(
                        SOURCE,
                        ErrorCode.PROVIDER_REJECTED,
                        f"FCM refused a freshly issued access token: {reason}",
                    )
        except _Stop as stop:
            return stop.result
        return self._result(response, note.token)

    async def close(self) -> None:
        await self._pool.close()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # --- the message -------------------------------------------------------------------------

    def _ttl(self, note: PushNotification) -> int:
        """The rest of the lookback (all of it on a first attempt), within FCM's ceiling."""
        remaining = math.ceil(note.expires_at.timestamp() - self._now())
        if note.lookback_seconds > 0:
            remaining = min(remaining, note.lookback_seconds)
        return min(remaining, MAX_TTL_SECONDS)

    async def _send(self, host: _Host, path: str, content: bytes, token: str) -> Response:
        """POST ``messages:send`` on the host's connection within this send's deadline."""
        # libcurl's HPACK (nghttp2) never indexes an authorization field.
        headers = [f"authorization: Bearer {token}"]
        try:
            return await self._pool.request(
                host, host, path, headers, content, timeout=self._deadline, content_type=_JSON
            )
        except TimeoutError as exc:
            raise _Stop(
                RetryLater(SOURCE, f"FCM timed out (no answer within {self._deadline:g} s)")
            ) from exc
        except ConnectError as exc:
            raise _Stop(RetryLater(SOURCE, f"FCM unreachable: {exc}")) from exc
        except BlockedAddress as exc:
            raise _Stop(
                Rejected(ErrorSource.PARLAY, ErrorCode.PROVIDER_REJECTED, f"FCM endpoint: {exc}")
            ) from exc
        except Http2Error as exc:
            # Lost connections, GOAWAY, reset streams: retried later, the next send reconnects.
            raise _Stop(RetryLater(SOURCE, f"FCM connection failed: {_describe(exc)}")) from exc

    def _result(self, response: Response, token: str) -> SendResult:
        if response.status == 200:
            try:
                name = json.loads(response.body).get("name")
            except (ValueError, AttributeError):
                name = None
            return Accepted(SOURCE, str(name) if name else None)
        error = _GoogleError.of(response)
        retry_after = retry_after_seconds(response.header("retry-after"), self._now())
        if error.fcm_code == "UNREGISTERED" or error.token_invalid:
            return Rejected(SOURCE, ErrorCode.TOKEN_UNREGISTERED, error.reason, (token,))
        if error.fcm_code == "SENDER_ID_MISMATCH":
            # The token was issued to another Firebase project: this app's credentials can never
            # reach it, so it is as dead for this app as an unregistered one.
            return Rejected(SOURCE, ErrorCode.TOKEN_UNREGISTERED, error.reason, (token,))
        if response.status == 429 or error.fcm_code == "QUOTA_EXCEEDED":
            wait = retry_after if retry_after is not None else QUOTA_RETRY_AFTER_SECONDS
            return RetryLater(SOURCE, error.reason, retry_after=wait)
        if response.status >= 500 or error.fcm_code in ("UNAVAILABLE", "INTERNAL"):
            return RetryLater(SOURCE, error.reason, retry_after=retry_after)
        # Other 4xx. A 404 without FcmError UNREGISTERED is a wrong endpoint, not a dead token.
        return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, error.reason)

    # --- access tokens -----------------------------------------------------------------------

    def _account(self, credentials: FcmCredentials) -> _ServiceAccount:
        info = credentials.service_account
        private_key = str(info.get("private_key") or "")
        email = str(info.get("client_email") or "")
        token_uri = str(info.get("token_uri") or "https://oauth2.googleapis.com/token")
        digest = hashlib.sha256(f"{email}\n{token_uri}\n{private_key}".encode()).hexdigest()
        account = self._accounts.get(digest)
        if account is None:
            try:
                if not email:
                    raise ValueError("no client_email")
                signer = crypt.RSASigner.from_service_account_info(info)  # type: ignore[no-untyped-call]
            except (ValueError, TypeError, KeyError, GoogleAuthError) as exc:
                raise _Stop(
                    Rejected(
                        ErrorSource.PARLAY,
                        ErrorCode.PROVIDER_REJECTED,
                        f"the FCM service account is unusable: {exc}",
                    )
                ) from exc
            account = _ServiceAccount(digest, email, token_uri, signer)
            self._accounts[digest] = account
        return account

    async def _token(self, account: _ServiceAccount) -> str:
        cached = self._tokens.get(account.key)
        if cached is not None and self._now() < cached.renew_at:
            return cached.value
        lock = self._token_locks.setdefault(account.key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(account.key)  # another send may have renewed it meanwhile
            if cached is not None and self._now() < cached.renew_at:
                return cached.value
            try:
                fresh = await self._exchange(account)
            except _Stop as stop:
                # Within the renewal margin the old token still works: use it while we can.
                still_valid = cached is not None and self._now() < cached.expires_at
                if cached is not None and still_valid and isinstance(stop.result, RetryLater):
                    return cached.value
                raise
            self._tokens[account.key] = fresh
            return fresh.value

    def _forget(self, account: _ServiceAccount, token: str) -> None:
        cached = self._tokens.get(account.key)
        if cached is not None and cached.value == token:
            del self._tokens[account.key]

    async def _exchange(self, account: _ServiceAccount) -> _AccessToken:
        now = self._now()
        claims = {
            "iss": account.email,
            "scope": SCOPE,
            "aud": account.token_uri,
            "iat": int(now),
            "exp": int(now) + ASSERTION_LIFETIME_SECONDS,
        }
        # One RSA signature (about a millisecond) per token per hour: fine on the event loop.
        assertion = jwt.encode(account.signer, claims).decode()  # type: ignore[no-untyped-call]
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        try:
            response = await self._http().post(
                account.token_uri, data=form, headers={"Accept": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise _Stop(RetryLater(SOURCE, "the OAuth token endpoint timed out")) from exc
        except BlockedAddress as exc:
            raise _Stop(
                Rejected(
                    ErrorSource.PARLAY,
                    ErrorCode.PROVIDER_REJECTED,
                    f"the service account's token_uri: {exc}",
                )
            ) from exc
        except httpx.TransportError as exc:
            raise _Stop(
                RetryLater(SOURCE, f"the OAuth token endpoint is unreachable: {_describe(exc)}")
            ) from exc
        retry_after = retry_after_seconds(response.headers.get("retry-after"), self._now())
        if response.status_code == 429 or response.status_code >= 500:
            reason = f"the OAuth token endpoint answered {response.status_code}"
            raise _Stop(RetryLater(SOURCE, reason, retry_after=retry_after))
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        if response.status_code != 200:
            # The OAuth error code and a description Parlay knows; never the endpoint's text.
            error = code_word(doc.get("error")) or f"HTTP {response.status_code}"
            description = doc.get("error_description")
            message = f"the OAuth token endpoint refused the service account: {error}"
            if description in KNOWN_TOKEN_ERRORS or code_word(description):
                message += f": {description}"
            raise _Stop(Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, message))
        value = doc.get("access_token")
        try:
            lifetime = float(doc.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        if not isinstance(value, str) or not value:
            raise _Stop(RetryLater(SOURCE, "the OAuth token endpoint sent no access_token"))
        # A short-lived token (tests, a proxy in between) is renewed halfway through its life.
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        return _AccessToken(value, expires_at=now + lifetime, renew_at=now + lifetime - margin)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_client(
                urls=self._urls,
                http2=True,
                ca_bundle=self._ca_bundle,
                timeout=self._timeout,
                max_connections=self._max_connections,
            )
        return self._client


def _token_refused(response: Response) -> bool:
    """401 without an FcmError: the access token, not the message, was refused."""
    return response.status == 401 and _GoogleError.of(response).fcm_code is None


def _endpoint(credentials: FcmCredentials) -> tuple[_Host, str]:
    """The host and the ``messages:send`` path of an app's FCM endpoint (HTTPS only)."""
    url = urlsplit(credentials.base_url)
    try:
        port = url.port or 443
    except ValueError as exc:
        raise _Stop(
            Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, f"bad FCM endpoint: {exc}")
        ) from exc
    if url.scheme != "https" or not url.hostname:
        raise _Stop(
            Rejected(
                SOURCE,
                ErrorCode.PROVIDER_REJECTED,
                f"bad FCM endpoint {credentials.base_url!r}: FCM HTTP v1 needs https://host",
            )
        )
    project = quote(credentials.project_id, safe="")
    path = f"{url.path.rstrip('/')}/v1/projects/{project}/messages:send"
    return (url.hostname, port), path


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
