"""What the SMS and WhatsApp channels share: the sandbox serves an account without
credentials, one HTTP/1.1 poster is made on first use (through the URL policy), and a
provider's "later" honours its ``Retry-After``.

The poster is ``parlay.lib.http.h1post``, not httpx: against the Twilio fake with 64 requests
in flight httpx's pool managed 91 requests/s where the same requests written whole on
kept-alive connections reached 2,700/s (docs/architecture.md)."""

from __future__ import annotations

import httpx

from parlay.channels.base import Channel, RetryLater
from parlay.channels.providers import ProviderAccounts
from parlay.delivery.status import ErrorSource
from parlay.lib.clock import Clock, SystemClock
from parlay.lib.http.client import DEFAULT_TIMEOUT, retry_after_seconds, tls_context
from parlay.lib.http.h1post import Http1Poster
from parlay.lib.http.urls import UrlPolicy

# Connections kept open per provider host: as many as sends in flight at once.
MAX_IDLE = 128


class ProviderChannel:
    """The base of a channel that sends through a brand's own provider account."""

    def __init__(
        self,
        accounts: ProviderAccounts,
        sandbox: Channel,
        *,
        urls: UrlPolicy,
        ca_bundle: str | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._accounts = accounts
        self._sandbox = sandbox
        self._urls = urls
        self._ca_bundle = ca_bundle
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._poster: Http1Poster | None = None

    def _retry_later(
        self, source: ErrorSource, response: httpx.Response, reason: str
    ) -> RetryLater:
        now = self._clock.now().timestamp()
        wait = retry_after_seconds(response.headers.get("retry-after"), now)
        return RetryLater(source, reason, retry_after=wait)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST to the provider; its answer as an ``httpx.Response`` (what the channels read).
        ``TimeoutError``, ``HttpError`` (no answer) or ``BlockedAddress``."""
        if self._poster is None:
            self._poster = Http1Poster(self._urls, tls_context(self._ca_bundle), max_idle=MAX_IDLE)
        timeout = self._timeout.read or 10.0
        answer = await self._poster.post(url, body, headers, timeout=timeout)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

    async def close(self) -> None:
        await self._sandbox.close()  # idempotent: it may serve other channels too
        if self._poster is not None:
            poster, self._poster = self._poster, None
            await poster.aclose()
