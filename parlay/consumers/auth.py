"""Consumer authentication: the brand's identity provider signs a JWT; Parlay verifies
it with the account's key (a PEM public key, or a JWKS URL fetched, cached and refreshed when the
brand rotates keys). Asymmetric algorithms only; ``exp``, ``iss``, ``aud`` and ``sub`` required.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK, PyJWKSet

from parlay.accounts.settings import ALLOWED_JWT_ALGORITHMS, ConsumerAuth
from parlay.lib.errors import ServiceUnavailable, Unauthenticated
from parlay.lib.http.client import make_client
from parlay.lib.http.urls import BlockedAddress, UrlPolicy
from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.consumers.auth")
LEEWAY_SECONDS = 30
JWKS_TTL_SECONDS = 600.0
# An unknown kid may mean the brand rotated its keys: refetch, but at most this often.
JWKS_REFETCH_INTERVAL_SECONDS = 60.0
# A key set is a few kilobytes (a 4096-bit RSA key is ~0.8 KB as a JWK): anything past this is
# not one, and is not read further. The whole fetch, connecting to the last byte, has a
# deadline: a server that answers one byte at a time cannot hold a request for longer.
MAX_JWKS_BYTES = 256 * 1024
MAX_JWKS_KEYS = 100
JWKS_DEADLINE_SECONDS = 5.0
# The public key type each algorithm family verifies with (by the algorithm's first two letters).
_KEY_TYPES: dict[str, type | tuple[type, ...]] = {
    "RS": RSAPublicKey,
    "PS": RSAPublicKey,
    "ES": EllipticCurvePublicKey,
    "Ed": (Ed25519PublicKey, Ed448PublicKey),
}


@dataclass(frozen=True)
class ConsumerIdentity:
    account_id: str
    consumer_id: str  # the token's ``sub``
    claims: dict[str, Any]


@dataclass
class _CachedKeys:
    keys: dict[str, PyJWK]  # by kid ("" for a key without one)
    fetched_at: float


class JwksCache:
    """JSON Web Key Sets by URL, fetched with httpx (never blocking the loop) and cached.

    A brand's key endpoint is asked at most once a minute, whatever happens: when a token names
    an unknown kid (an attacker can mint those at will), when the cached set has aged past its
    TTL, and when the endpoint is down (the last set fetched keeps verifying meanwhile).
    """

    def __init__(
        self,
        *,
        urls: UrlPolicy,
        ca_bundle: str | None = None,
        ttl: float = JWKS_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._urls = urls  # the key endpoint's address is checked on every connection
        self._client: httpx.AsyncClient | None = None
        self._ca_bundle = ca_bundle
        self._ttl = ttl
        # Injected so tests cross the TTL and the refetch interval without sleeping.
        self._monotonic = monotonic
        self._sets: dict[str, _CachedKeys] = {}
        self._attempted: dict[str, float] = {}  # last fetch attempt per URL, failed or not
        self._locks: dict[str, asyncio.Lock] = {}

    async def key(self, url: str, kid: str | None) -> PyJWK:
        cached = self._sets.get(url)
        if cached is None or self._monotonic() - cached.fetched_at > self._ttl:
            cached = await self._refresh(url)
        found = _pick(cached.keys, kid)
        if found is None:
            # Perhaps the brand rotated its keys since we fetched them.
            cached = await self._refresh(url)
            found = _pick(cached.keys, kid)
        if found is None:
            raise Unauthenticated("the token's signing key is not in the brand's key set")
        return found

    async def _refresh(self, url: str) -> _CachedKeys:
        """The freshest set we can have, fetching it unless it was tried less than a minute ago.

        The interval counts from the last attempt, not the last success: counted from the last
        success, every request refetched while the endpoint was down (each waiting for its
        timeout). The lock makes concurrent requests on a cold cache share one fetch.
        """
        async with self._locks.setdefault(url, asyncio.Lock()):
            now = self._monotonic()
            last = self._attempted.get(url)
            if last is None or now - last >= JWKS_REFETCH_INTERVAL_SECONDS:
                self._attempted[url] = now
                await self._fetch(url, now)
        cached = self._sets.get(url)
        if cached is None:
            raise ServiceUnavailable("the brand's key set (JWKS) cannot be fetched")
        return cached

    async def _fetch(self, url: str, now: float) -> None:
        if self._client is None:
            self._client = make_client(
                urls=self._urls, ca_bundle=self._ca_bundle, max_connections=10
            )
        try:
            async with asyncio.timeout(JWKS_DEADLINE_SECONDS):
                body = await _bounded_get(self._client, url)
            document = json.loads(body)
            keys = document.get("keys") if isinstance(document, dict) else None
            if not isinstance(keys, list) or len(keys) > MAX_JWKS_KEYS:
                raise ValueError(f"not a key set of at most {MAX_JWKS_KEYS} keys")
            key_set = PyJWKSet.from_dict(document)
        except (
            httpx.HTTPError,
            ValueError,
            jwt.PyJWKSetError,
            BlockedAddress,
            TimeoutError,
        ) as exc:
            # Keep verifying with the keys we had, if any (``_refresh`` answers 503 otherwise).
            log.warning("JWKS fetch failed", url=url, error=str(exc) or type(exc).__name__)
            return
        self._sets[url] = _CachedKeys({k.key_id or "": k for k in key_set.keys}, now)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def _bounded_get(client: httpx.AsyncClient, url: str) -> bytes:
    """The body of a 2xx answer, read no further than ``MAX_JWKS_BYTES``."""
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
            raise ValueError(f"key set of {declared} bytes, over {MAX_JWKS_BYTES}")
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decoded: a compressed bomb counts in full
            body += chunk
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"key set over {MAX_JWKS_BYTES} bytes")
        return bytes(body)


def _fits(key: object, alg: str) -> bool:
    """Whether ``key`` is the kind of key that ``alg`` verifies with."""
    return isinstance(key, _KEY_TYPES[alg[:2]])


def _pick(keys: dict[str, PyJWK], kid: str | None) -> PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None


# Every refusal answers this, whatever the reason (logged): the answer tells nobody whether the
# account exists, is configured, or which check the token failed.
INVALID_TOKEN = "invalid consumer token"


async def verify_consumer_token(
    token: str,
    account_id: str,
    config: ConsumerAuth | None,
    jwks: JwksCache,
    now: Callable[[], float] = time.time,
) -> ConsumerIdentity:
    """The consumer a brand-signed JWT stands for, or 401 (one answer for every reason)."""
    try:
        return await _verify(token, account_id, config, jwks, now())
    except Unauthenticated as refused:
        log.info("consumer token refused", account_id=account_id, reason=refused.detail)
        raise Unauthenticated(INVALID_TOKEN) from refused


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"the token's {name} is not a number")
    return float(value)


async def _verify(
    token: str, account_id: str, config: ConsumerAuth | None, jwks: JwksCache, now: float
) -> ConsumerIdentity:
    if config is None:
        raise Unauthenticated("App Messaging is not configured for this account")
    algorithms = [a for a in config.algorithms if a in ALLOWED_JWT_ALGORITHMS]
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated("malformed token") from exc
    alg = header.get("alg")
    if alg not in algorithms:
        raise Unauthenticated(f"token algorithm {alg!r} is not accepted")
    key: Any
    if config.public_key_pem:
        key = load_pem_public_key(config.public_key_pem.encode())
    else:
        assert config.jwks_url is not None
        key = (await jwks.key(config.jwks_url, header.get("kid"))).key
    if not _fits(key, str(alg)):
        # PyJWT raises TypeError (not a PyJWTError) for an ES token against an RSA key and the
        # like, which answered 500: a token naming the wrong kind of key is just a bad token.
        raise Unauthenticated(f"a {alg} token cannot be verified with the brand's key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[str(alg)],
            audience=config.audience,
            issuer=config.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    # PyJWT takes a numeric string for a time ("exp": "1893456000"): a token says times as
    # numbers, or it is not a token Parlay accepts.
    expires = _number(claims, "exp")
    issued = _number(claims, "iat")
    assert expires is not None
    lifetime = expires - (issued if issued is not None else now)
    if lifetime > config.max_token_lifetime_seconds + LEEWAY_SECONDS:
        raise Unauthenticated(f"the token lives longer than {config.max_token_lifetime_seconds} s")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not is_consumer_id(subject):
        raise Unauthenticated("the token's sub is not a consumer ID")
    return ConsumerIdentity(account_id, subject, claims)


def is_consumer_id(subject: str) -> bool:
    """1-255 printable characters: no control, format (bidi, zero-width) or unassigned
    characters, no surrounding spaces (it is shown to agents and keys every record)."""
    return 1 <= len(subject) <= 255 and subject.isprintable() and subject == subject.strip()
