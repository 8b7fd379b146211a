"""The one policy for every URL Parlay fetches from the server side: a brand's push proxy, an APNs
or FCM endpoint, a service account's ``token_uri``, a consumer-auth ``jwksUrl`` (and, later,
webhooks).

Anyone who may edit an app or the account settings chooses these URLs, and Parlay then connects
to them from inside the operator's network. So a URL must name a public internet host:

* **When it is saved** (``UrlPolicy.check``): https only; the host is refused when it is, or
  resolves to, an address that is not public: loopback, private (RFC 1918, ``fc00::/7``),
  link-local (``169.254.0.0/16`` with the cloud metadata address, ``fe80::/10``), multicast,
  unspecified, shared (``100.64.0.0/10``) or otherwise reserved. Every spelling of an address
  counts: IPv4-mapped and other IPv6 forms that embed an IPv4 address, the old numeric forms
  (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``), a trailing dot, ``localhost``.
  Names are resolved with the event loop's ``getaddrinfo``; every address returned must be
  public. A refusal is a 400 naming the field.
* **When Parlay connects** (``UrlPolicy.addresses``): the name is resolved again, every address
  is checked again, and the connection goes to a checked address (TLS still verifies, and SNI
  still names, the host). A name that answered a public address when saved and an internal one
  now (DNS rebinding) is refused with ``BlockedAddress``. The httpx clients get this from
  ``guarded_transport`` (a network backend of httpcore), the HTTP/2 push connections from
  ``parlay.lib.http.h2curl``.

``UrlPolicy(allow_private=True)`` (``PARLAY_ALLOW_PRIVATE_URLS=true``) lifts all of it: plain
http and any address are accepted. The demo and the test suite use it (the provider fakes
listen on 127.0.0.1); production must not.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from parlay.lib.errors import invalid_field

__all__ = [
    "BlockedAddress",
    "Resolver",
    "UrlPolicy",
    "address_problem",
    "guarded_transport",
    "host_address",
    "system_resolver",
]

IPAddress = IPv4Address | IPv6Address
# host, port -> the addresses it resolves to (textual IPv4 or IPv6); OSError when it does not.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

RESOLVE_TIMEOUT_SECONDS = 5.0
_SHARED = IPv4Network("100.64.0.0/10")  # carrier-grade NAT; Python counts it neither way
_IETF = IPv4Network("192.0.0.0/24")  # protocol assignments; 192.0.0.8 and others pass is_global
_NAT64 = IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix: an IPv4 address inside
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMBER = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")
_PUBLIC_ONLY = "Parlay connects only to public internet addresses"


class BlockedAddress(Exception):
    """At connect time, the host resolved to an address that is not public: nothing was sent.

    Not an ``OSError``: a connection error is retried later, this is a refusal."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the event loop's ``getaddrinfo`` (the system resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` is not a public internet address; None when it is."""
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or (isinstance(address, IPv4Address) and address in _IETF):
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def _number(part: str) -> int | None:
    """One part of an old-style IPv4 address: decimal, 0x-hex or 0-octal."""
    if not _NUMBER.match(part):
        return None
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def _ipv4(host: str) -> IPv4Address | None:
    """``host`` read the way ``inet_aton`` and browsers read IPv4: one to four parts, each
    decimal, hex or octal, the last filling the remaining bytes (``127.1``, ``2130706433``).
    None when ``host`` is not numeric; ValueError when it is, but no valid address."""
    parts = host.split(".")
    if not _NUMBER.match(parts[-1]):
        return None  # a name: browsers read a host as IPv4 when its last label is a number
    numbers = [_number(part) for part in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise ValueError(f"{host!r} is neither a host name nor an IPv4 address")
    values = [n for n in numbers if n is not None]
    last_bytes = 5 - len(values)
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256**last_bytes:
        raise ValueError(f"{host!r} is not a valid IPv4 address")
    value = 0
    for n in values[:-1]:
        value = value * 256 + n
    return IPv4Address(value * 256**last_bytes + values[-1])


def host_address(host: str) -> IPAddress | str:
    """A URL's host as an address (every spelling of one) or a lower-case name without a
    trailing dot; ValueError when it is neither."""
    if ":" in host:
        try:
            return IPv6Address(host.strip("[]"))
        except ValueError as exc:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from exc
    name = host.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise ValueError("no host")
    address = _ipv4(name)
    if address is not None:
        return address
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{host!r} is not a valid host name")
    return name


def _split(field: str, url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL, or the field's 400."""
    shape = "an absolute https URL"
    if not url.isascii() or any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        raise invalid_field(
            field, f"{shape} (ASCII without spaces; an international name in its xn-- form)"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a bracketed host that is no IPv6 address, say
        raise invalid_field(field, f"{shape}: {exc}") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise invalid_field(field, shape)
    if "@" in parts.netloc:
        raise invalid_field(field, "no user name or password in the URL")
    try:
        port = parts.port
    except ValueError as exc:
        raise invalid_field(field, "the port must be a number from 1 to 65535") from exc
    if port == 0:
        raise invalid_field(field, "the port must be a number from 1 to 65535")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


class UrlPolicy:
    """Where Parlay may connect. Built once from the settings (``bootstrap``) and handed to the
    use cases that save URLs and to every client that fetches them."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self._resolver = resolver or system_resolver

    async def check(self, field: str, url: str, *, https_only: bool = False) -> str:
        """``url`` if Parlay may fetch it, else a 400 naming ``field``. ``https_only``: https
        even when the policy is lifted (the HTTP/2 push clients speak TLS only)."""
        scheme, host, port = _split(field, url)
        if scheme != "https" and https_only:
            raise invalid_field(field, "must be https (HTTP/2 over TLS)")
        if self.allow_private:
            return url
        if scheme != "https":
            raise invalid_field(field, "must be https")
        try:
            target = host_address(host)
        except ValueError as exc:
            raise invalid_field(field, str(exc)) from exc
        if not isinstance(target, str):
            problem = address_problem(target)
            if problem is not None:
                raise invalid_field(field, f"{host} is {problem}: {_PUBLIC_ONLY}")
            return url
        if target == "localhost" or target.endswith(".localhost"):
            raise invalid_field(field, f"{host} is a loopback name: {_PUBLIC_ONLY}")
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                found = [_parse(a) for a in await self._resolver(target, port)]
        except (OSError, TimeoutError, ValueError):
            found = []
        # One answer for "does not resolve" and "resolves inside": the difference would tell
        # whoever saves URLs which internal names exist.
        if not found or any(address_problem(a) is not None for a in found):
            raise invalid_field(
                field,
                f"{host} must resolve to public addresses only (it does not resolve, or "
                f"resolves to a loopback, private, link-local or reserved address): "
                f"{_PUBLIC_ONLY}",
            )
        return url

    async def addresses(self, host: str, port: int) -> list[str]:
        """Connect time: the addresses to connect to for ``host``, each checked. OSError when
        the name does not resolve, ``BlockedAddress`` when an address is not public."""
        found = list(dict.fromkeys(await self._resolver(host, port)))
        if not found:
            raise OSError(f"{host} does not resolve")
        if not self.allow_private:
            for address in found:
                try:
                    problem = address_problem(_parse(address))
                except ValueError:
                    problem = "not an address"
                if problem is not None:
                    raise BlockedAddress(
                        f"{host} resolves to an address that is not public: {_PUBLIC_ONLY}"
                    )
        return found


def _parse(address: str) -> IPAddress:
    return ip_address(address)


# --- httpx: the connect-time check as an httpcore network backend --------------------------


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves with the policy, checks, and connects to a checked address; httpcore then starts
    TLS with the host name (SNI and certificate verification by name, not by address)."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._policy.addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # addresses is never empty
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Parlay does not fetch URLs over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a pool whose connections go through ``_GuardedBackend``.

    ``AsyncHTTPTransport`` takes no network backend, so the pool it built is replaced by one
    built alike with the backend (``_pool`` is what its ``handle_async_request`` uses)."""

    def __init__(
        self, policy: UrlPolicy, *, ssl_context: ssl.SSLContext, http2: bool, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=ssl_context, http2=http2, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=_GuardedBackend(policy),
        )


def guarded_transport(
    policy: UrlPolicy, *, ssl_context: ssl.SSLContext, http2: bool, limits: httpx.Limits
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection passes the policy's connect-time check."""
    return _GuardedTransport(policy, ssl_context=ssl_context, http2=http2, limits=limits)
