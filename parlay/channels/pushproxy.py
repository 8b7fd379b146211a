"""The brand's push proxy: Parlay POSTs one signed JSON document per device to the brand's URL,
and the brand's own sender pushes it through APNs or FCM.

The contract a brand implements (the body, the ``X-Parlay-Signature`` header and how to check
it, what each answer makes Parlay do) is docs/push-proxy.md; its examples are run against this
module by tests/channels/test_push_proxy_doc.py. In short: 2xx accepted · 401 our credentials
are refused (fails the delivery) · 403 the token cannot take pushes (Parlay disables it) · 408,
429 and 5xx try again later (``Retry-After`` honoured) · any other status fails the delivery.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from parlay.channels.base import Accepted, Rejected, RetryLater, SendResult
from parlay.channels.push import PushApp, PushNotification
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.clock import Clock, SystemClock
from parlay.lib.http.client import DEFAULT_TIMEOUT, make_client, retry_after_seconds
from parlay.lib.http.urls import BlockedAddress, UrlPolicy
from parlay.lib.signing import SIGNATURE_HEADER, signature

SOURCE = ErrorSource.PROXY


def proxy_body(note: PushNotification) -> dict[str, Any]:
    """The JSON document the proxy receives for one device."""
    notification = {"body": note.message}
    if note.title is not None:
        notification = {"title": note.title, **notification}
    return {
        "pushService": "apns" if note.platform == "ios" else "fcm",
        "platform": note.platform,
        "deviceToken": note.token,
        "notification": notification,
        **note.payload_fields(),
    }


class PushProxyClient:
    """PushClient for brands' push proxies. Safe for concurrent sends."""

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
        self._clock = clock or SystemClock()  # timestamps signatures
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None  # made on first use: no I/O here

    async def push(self, app: PushApp, note: PushNotification) -> SendResult:
        config = app.proxy
        if config is None:
            return Rejected(
                ErrorSource.PARLAY,
                ErrorCode.PROVIDER_REJECTED,
                f"app {app.app_id} has no push proxy",
            )
        body = json.dumps(proxy_body(note), separators=(",", ":"), ensure_ascii=False).encode()
        headers = httpx.Headers(config.headers)
        # Ours win over a custom header of the same name: the signature must cover this body.
        headers["Content-Type"] = "application/json"
        headers[SIGNATURE_HEADER] = signature(config.secret, body, int(self._now()))
        if config.basic_auth:
            user, password = config.basic_auth
            credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {credentials}"
        try:
            response = await self._http().post(config.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return RetryLater(SOURCE, f"the push proxy timed out ({type(exc).__name__})")
        except BlockedAddress as exc:
            return Rejected(ErrorSource.PARLAY, ErrorCode.PROVIDER_REJECTED, f"push proxy: {exc}")
        except httpx.UnsupportedProtocol as exc:
            return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, f"bad push proxy URL: {exc}")
        except httpx.TransportError as exc:
            return RetryLater(SOURCE, f"the push proxy is unreachable: {type(exc).__name__}")
        return self._result(response, note.token)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _result(self, response: httpx.Response, token: str) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            return Accepted(SOURCE)
        # The status only: the body is the proxy's own words, never shown in a delivery.
        reason = f"push proxy answered {status}"
        if status in (408, 429) or status >= 500:
            wait = retry_after_seconds(response.headers.get("retry-after"), self._now())
            return RetryLater(SOURCE, reason, retry_after=wait)
        if status == 401:
            return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, "proxy refused our credentials")
        if status == 403:
            # LivePerson's proxy contract: 403 means this token cannot take pushes.
            return Rejected(SOURCE, ErrorCode.TOKEN_UNREGISTERED, reason, (token,))
        return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, reason)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_client(
                urls=self._urls,
                ca_bundle=self._ca_bundle,
                timeout=self._timeout,
                max_connections=self._max_connections,
            )
        return self._client
