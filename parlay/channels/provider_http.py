"""What the SMS and WhatsApp channels share: the sandbox serves an account without
credentials, one HTTP client is made on first use (through the URL policy), and a provider's
"later" honours its ``Retry-After``."""

from __future__ import annotations

import httpx

from parlay.channels.base import Channel, RetryLater
from parlay.channels.providers import ProviderAccounts
from parlay.delivery.status import ErrorSource
from parlay.lib.clock import Clock, SystemClock
from parlay.lib.http.client import DEFAULT_TIMEOUT, make_client, retry_after_seconds
from parlay.lib.http.urls import UrlPolicy


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
        self._client: httpx.AsyncClient | None = None

    def _retry_later(
        self, source: ErrorSource, response: httpx.Response, reason: str
    ) -> RetryLater:
        now = self._clock.now().timestamp()
        wait = retry_after_seconds(response.headers.get("retry-after"), now)
        return RetryLater(source, reason, retry_after=wait)

    async def close(self) -> None:
        await self._sandbox.close()  # idempotent: it may serve other channels too
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_client(
                urls=self._urls, ca_bundle=self._ca_bundle, timeout=self._timeout
            )
        return self._client
