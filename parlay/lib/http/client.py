"""The one HTTP client factory for provider traffic (APNs, FCM, push proxy, Twilio, WhatsApp) and
the brands' endpoints (JWKS): every client it makes connects only where the URL policy allows
(``parlay.lib.http.urls``)."""

from __future__ import annotations

import math
import re
import ssl
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

from parlay.lib.http.urls import UrlPolicy, guarded_transport

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_CODE_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """System trust store, plus ``ca_bundle`` when given (a test CA for loopback fakes)."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def make_client(
    *,
    urls: UrlPolicy,
    http2: bool = False,
    ca_bundle: str | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    max_connections: int = 100,
    base_url: str = "",
    keepalive_expiry: float | None = 5.0,
) -> httpx.AsyncClient:
    """An async client with Parlay's defaults: verified TLS, bounded pool, explicit timeouts,
    no redirects, and every connection checked by ``urls`` when it opens (the address it
    connects to must be public unless the policy is lifted). Environment proxies
    (``HTTPS_PROXY``) are not used: the check must see the address Parlay really connects to."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry,  # APNs wants long-lived connections
    )
    return httpx.AsyncClient(
        transport=guarded_transport(
            urls, ssl_context=tls_context(ca_bundle), http2=http2, limits=limits
        ),
        timeout=timeout,
        base_url=base_url,
        follow_redirects=False,
    )


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date, measured
    from ``now`` in Unix seconds); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def code_word(value: object) -> str | None:
    """``value`` if it is one code word (a letter, then letters, digits or underscores; at most
    64), the way providers name their errors: APNs ``BadDeviceToken``, FCM ``UNREGISTERED``,
    OAuth ``invalid_grant``. None for anything else, free text above all: a provider's own words
    never reach a delivery's ``errorMessage`` (the endpoint answering may be anyone's)."""
    return value if isinstance(value, str) and _CODE_WORD.match(value) else None
