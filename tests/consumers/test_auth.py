"""Consumer authentication: the brand's JWT, verified with a PEM key or a JWKS URL.

Every refusal is 401 with errorCode 1100; every route of the consumer API uses the same
dependency, so ``GET pending-outbound`` stands for all of them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from parlay.consumers import auth as consumer_auth_module
from parlay.consumers.auth import (
    JWKS_REFETCH_INTERVAL_SECONDS,
    JWKS_TTL_SECONDS,
    MAX_JWKS_BYTES,
    JwksCache,
)
from parlay.lib.errors import ServiceUnavailable
from tests.conftest import Brand, problem
from tests.consumers.conftest import configure_consumer_auth
from tests.fakes.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey
from tests.fakes.loopback import LOOPBACK_URLS, ManualClock

pytestmark = pytest.mark.anyio

AFTER_REFETCH_INTERVAL = JWKS_REFETCH_INTERVAL_SECONDS + 1
AFTER_TTL = JWKS_TTL_SECONDS + 1


async def call(brand: Brand, token: str | None, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return await brand.client.get(f"{brand.url}/consumer/pending-outbound", headers=headers)


def assert_accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"messages": []}


def assert_unauthenticated(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    body = problem(response)
    assert body["errorCode"] == 1100, body
    assert response.headers["www-authenticate"] == "Bearer"
    return body


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "consumer-1", "iat": now, "exp": now + 300}
    return {**base, **overrides}


def unsigned_token(**header: Any) -> str:
    """``alg: none``, crafted by hand: PyJWT will not make one."""
    head = b64url(json.dumps({"typ": "JWT", **header}).encode())
    return f"{head}.{b64url(json.dumps(claims()).encode())}."


def hmac_token(secret: bytes, **header: Any) -> str:
    """An HS256 token keyed with ``secret``: with the brand's public key as the secret, this is
    the classic confusion attack on verifiers that let the token pick the algorithm."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode())
    signing_input = f"{head}.{b64url(json.dumps(claims()).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


# --- a PEM public key ------------------------------------------------------------------------


@pytest.fixture
async def pem_brand(brand: Brand, rsa_key: SigningKey) -> Brand:
    await configure_consumer_auth(brand, publicKeyPem=rsa_key.public_pem)
    return brand


async def test_a_valid_rs256_token_is_accepted(pem_brand: Brand, rsa_key: SigningKey) -> None:
    assert_accepted(await call(pem_brand, rsa_key.token()))


async def test_a_valid_es256_token_is_accepted(brand: Brand, ec_key: SigningKey) -> None:
    await configure_consumer_auth(brand, publicKeyPem=ec_key.public_pem, algorithms=["ES256"])
    assert_accepted(await call(brand, ec_key.token()))


async def test_the_scheme_name_is_case_insensitive(pem_brand: Brand, rsa_key: SigningKey) -> None:
    assert_accepted(await call(pem_brand, rsa_key.token(), scheme="bearer"))


async def test_a_token_expired_within_the_30_second_leeway_is_accepted(
    pem_brand: Brand, rsa_key: SigningKey
) -> None:
    assert_accepted(await call(pem_brand, rsa_key.token(iat=now() - 600, exp=now() - 10)))


def now() -> int:
    return int(time.time())


def _refused_tokens() -> list[Any]:
    cases: dict[str, Callable[[SigningKey, SigningKey], str]] = {
        "forged-signature": lambda key, other: other.token(kid=key.kid),
        "expired": lambda key, other: key.token(iat=now() - 600, exp=now() - 45),
        "wrong-audience": lambda key, other: key.token(aud="globex-app"),
        "wrong-issuer": lambda key, other: key.token(iss="https://id.globex.example"),
        "no-sub": lambda key, other: key.token(sub=None),
        "empty-sub": lambda key, other: key.token(sub=""),
        "long-sub": lambda key, other: key.token(sub="c" * 256),
        "no-exp": lambda key, other: key.token(exp=None),
        "no-iss": lambda key, other: key.token(iss=None),
        "no-aud": lambda key, other: key.token(aud=None),
        "not-yet-valid": lambda key, other: key.token(nbf=now() + 300),
        "alg-none": lambda key, other: unsigned_token(alg="none"),
        "alg-None": lambda key, other: unsigned_token(alg="None"),
        "hs256-with-the-public-key": lambda key, other: hmac_token(key.public_pem.encode()),
        "not-in-the-accounts-algorithms": lambda key, other: key.token(algorithm="RS512"),
        "ps256-not-in-the-accounts-algorithms": lambda key, other: key.token(algorithm="PS256"),
        "signature-stripped": lambda key, other: key.token().rsplit(".", 1)[0] + ".",
        "payload-swapped": lambda key, other: _swap_payload(key.token(), sub="someone-else"),
        "string-exp": lambda key, other: key.token(exp=str(now() + 300)),
        "string-iat": lambda key, other: key.token(iat=str(now())),
        "lives-longer-than-a-day": lambda key, other: key.token(exp=now() + 2 * 86_400),
        "long-lived-without-iat": lambda key, other: key.token(iat=None, exp=now() + 2 * 86_400),
        "nul-in-sub": lambda key, other: key.token(sub="c\x00-1"),
        "bidi-override-in-sub": lambda key, other: key.token(sub="c-1\u202e"),
        "spaces-around-sub": lambda key, other: key.token(sub=" c-1 "),
        "garbage": lambda key, other: "not-a-jwt",
        "empty-segments": lambda key, other: "..",
    }
    return [pytest.param(make, id=name) for name, make in cases.items()]


def _swap_payload(token: str, **changes: Any) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{b64url(json.dumps(claims(**changes)).encode())}.{signature}"


@pytest.mark.edge
@pytest.mark.parametrize("make", _refused_tokens())
async def test_a_bad_token_is_refused(
    pem_brand: Brand,
    rsa_key: SigningKey,
    other_rsa_key: SigningKey,
    make: Callable[[SigningKey, SigningKey], str],
) -> None:
    assert_unauthenticated(await call(pem_brand, make(rsa_key, other_rsa_key)))


async def test_an_algorithm_the_account_did_not_list_is_refused_even_with_the_right_key(
    brand: Brand, ec_key: SigningKey
) -> None:
    await configure_consumer_auth(brand, publicKeyPem=ec_key.public_pem, algorithms=["ES384"])
    assert_unauthenticated(await call(brand, ec_key.token()))


async def test_a_token_for_a_key_of_another_type_is_refused(
    brand: Brand, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    """Both algorithms listed, an RSA key configured: an ES256 token cannot verify."""
    await configure_consumer_auth(
        brand, publicKeyPem=rsa_key.public_pem, algorithms=["RS256", "ES256"]
    )
    assert_unauthenticated(await call(brand, ec_key.token()))
    assert_accepted(await call(brand, rsa_key.token()))


async def test_a_token_of_one_account_is_refused_on_another(
    pem_brand: Brand, other_brand: Brand, rsa_key: SigningKey, other_rsa_key: SigningKey
) -> None:
    # Same issuer and audience: only the key tells the two brands apart.
    await configure_consumer_auth(other_brand, publicKeyPem=other_rsa_key.public_pem)
    token_of_a = rsa_key.token()
    assert_accepted(await call(pem_brand, token_of_a))
    assert_unauthenticated(await call(other_brand, token_of_a))
    assert_accepted(await call(other_brand, other_rsa_key.token()))


async def test_the_accounts_maximum_token_lifetime_decides_how_long_a_token_may_live(
    brand: Brand, rsa_key: SigningKey
) -> None:
    week = 7 * 86_400
    await configure_consumer_auth(
        brand, publicKeyPem=rsa_key.public_pem, maxTokenLifetimeSeconds=week
    )
    assert_accepted(await call(brand, rsa_key.token(exp=now() + 2 * 86_400)))
    assert_unauthenticated(await call(brand, rsa_key.token(exp=now() + week + 3600)))


async def test_refusals_answer_alike_whether_the_account_exists_is_configured_or_not(
    pem_brand: Brand, brand_without_auth: Brand, rsa_key: SigningKey, other_rsa_key: SigningKey
) -> None:
    """Nothing in a consumer's 401 tells an account that exists from one that does not."""
    token = other_rsa_key.token()
    unknown = await pem_brand.client.get(
        "/api/account/no-such-account/consumer/pending-outbound",
        headers={"Authorization": f"Bearer {token}"},
    )
    answers = [
        unknown,
        await call(brand_without_auth, token),
        await call(pem_brand, token),  # configured, another key's signature
        await call(pem_brand, "not-a-jwt"),
        await call(pem_brand, rsa_key.token(exp=now() - 3600)),
    ]
    bodies = [assert_unauthenticated(r) for r in answers]
    assert len({(b["detail"], b["errorMessage"], b["title"]) for b in bodies}) == 1


@pytest.fixture
async def brand_without_auth(other_brand: Brand) -> Brand:
    return other_brand


async def test_without_consumer_auth_configured_every_token_is_refused(
    brand: Brand, rsa_key: SigningKey
) -> None:
    assert_unauthenticated(await call(brand, rsa_key.token()))


async def test_clearing_consumer_auth_locks_consumers_out(
    pem_brand: Brand, rsa_key: SigningKey
) -> None:
    response = await pem_brand.client.put(
        f"{pem_brand.url}/settings", json={"consumerAuth": None}, headers=pem_brand.admin
    )
    assert response.status_code == 200, response.text
    assert_unauthenticated(await call(pem_brand, rsa_key.token()))


async def test_an_unknown_account_answers_401(pem_brand: Brand, rsa_key: SigningKey) -> None:
    response = await pem_brand.client.get(
        "/api/account/nobody/consumer/pending-outbound",
        headers={"Authorization": f"Bearer {rsa_key.token()}"},
    )
    assert_unauthenticated(response)


@pytest.mark.edge
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic Y29uc3VtZXI6cHc="}, {"Authorization": "Bearer"}],
    ids=["none", "basic", "empty-bearer"],
)
async def test_no_bearer_token_is_refused(pem_brand: Brand, headers: dict[str, str]) -> None:
    response = await pem_brand.client.get(
        f"{pem_brand.url}/consumer/pending-outbound", headers=headers
    )
    assert_unauthenticated(response)


async def test_staff_credentials_are_not_consumer_tokens(pem_brand: Brand) -> None:
    assert_unauthenticated(await call(pem_brand, pem_brand.admin_token))
    assert_unauthenticated(await call(pem_brand, await pem_brand.api_key("c2m")))


async def test_every_consumer_route_needs_the_token(pem_brand: Brand) -> None:
    url = f"{pem_brand.url}/consumer"
    for response in (
        await pem_brand.client.put(f"{url}/devices/d1", json={}),
        await pem_brand.client.post(f"{url}/devices/d1/logout", json={}),
        await pem_brand.client.post(f"{url}/push/1/received"),
        await pem_brand.client.post(f"{url}/push/1/tapped"),
        await pem_brand.client.get(f"{url}/pending-outbound"),
    ):
        assert_unauthenticated(response)


# --- a JWKS URL --------------------------------------------------------------------------------


@pytest.fixture
async def jwks_brand(brand: Brand, jwks: JwksServer) -> Brand:
    await configure_consumer_auth(brand, jwksUrl=jwks.url, algorithms=["RS256", "ES256"])
    return brand


async def test_jwks_rs256_and_es256_tokens_are_accepted(
    jwks_brand: Brand, jwks: JwksServer, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    assert_accepted(await call(jwks_brand, ec_key.token()))


async def test_the_key_set_is_fetched_once_for_many_requests(
    jwks_brand: Brand, jwks: JwksServer, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    for _ in range(5):
        assert_accepted(await call(jwks_brand, rsa_key.token()))
        assert_accepted(await call(jwks_brand, ec_key.token(sub="consumer-2")))
    assert jwks.fetches == 1


async def test_concurrent_requests_on_a_cold_cache_share_one_fetch(
    jwks_brand: Brand, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    responses = await asyncio.gather(*(call(jwks_brand, rsa_key.token()) for _ in range(10)))
    for response in responses:
        assert_accepted(response)
    assert jwks.fetches == 1


async def test_jwks_refuses_forged_none_and_hmac_tokens(
    jwks_brand: Brand, jwks: JwksServer, rsa_key: SigningKey, other_rsa_key: SigningKey
) -> None:
    assert_unauthenticated(await call(jwks_brand, other_rsa_key.token(kid=rsa_key.kid)))
    assert_unauthenticated(await call(jwks_brand, unsigned_token(alg="none", kid=rsa_key.kid)))
    token = hmac_token(rsa_key.public_pem.encode(), kid=rsa_key.kid)
    assert_unauthenticated(await call(jwks_brand, token))
    jwk_bytes = json.dumps(rsa_key.jwk()).encode()
    assert_unauthenticated(await call(jwks_brand, hmac_token(jwk_bytes, kid=rsa_key.kid)))


async def test_a_kid_naming_a_key_of_another_type_is_refused(
    jwks_brand: Brand, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    assert_unauthenticated(await call(jwks_brand, ec_key.token(kid=rsa_key.kid)))


async def test_a_rotated_key_is_fetched_once_then_verifies(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    new_key = SigningKey.rsa()
    jwks.rotate(new_key)
    jwks_clock.advance(AFTER_REFETCH_INTERVAL)
    assert_accepted(await call(jwks_brand, new_key.token()))
    assert jwks.fetches == 2
    for _ in range(3):
        assert_accepted(await call(jwks_brand, new_key.token()))
    assert jwks.fetches == 2
    # The set fetched no longer holds the old key: its tokens stop verifying.
    assert_unauthenticated(await call(jwks_brand, rsa_key.token()))
    assert jwks.fetches == 2


async def test_a_key_rotated_within_a_minute_of_the_last_fetch_waits_for_the_next_minute(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    new_key = SigningKey.ec()
    jwks.rotate(rsa_key, new_key)
    assert_unauthenticated(await call(jwks_brand, new_key.token()))
    assert jwks.fetches == 1
    jwks_clock.advance(AFTER_REFETCH_INTERVAL)
    assert_accepted(await call(jwks_brand, new_key.token()))
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    assert jwks.fetches == 2


async def test_unknown_kids_refetch_at_most_once_a_minute(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    jwks_clock.advance(AFTER_REFETCH_INTERVAL)
    for i in range(5):
        assert_unauthenticated(await call(jwks_brand, rsa_key.token(kid=f"unknown-{i}")))
    assert jwks.fetches == 2
    jwks_clock.advance(JWKS_REFETCH_INTERVAL_SECONDS / 2)
    assert_unauthenticated(await call(jwks_brand, rsa_key.token(kid="unknown-late")))
    assert jwks.fetches == 2
    jwks_clock.advance(JWKS_REFETCH_INTERVAL_SECONDS / 2 + 1)
    assert_unauthenticated(await call(jwks_brand, rsa_key.token(kid="unknown-later")))
    assert jwks.fetches == 3
    assert_accepted(await call(jwks_brand, rsa_key.token()))


async def test_an_unknown_kid_on_a_cold_cache_costs_one_fetch(
    jwks_brand: Brand, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    assert_unauthenticated(await call(jwks_brand, rsa_key.token(kid="unknown")))
    assert jwks.fetches == 1


async def test_the_key_set_is_fetched_again_after_its_ttl(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    jwks_clock.advance(AFTER_TTL)
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    assert jwks.fetches == 2


async def test_a_token_without_kid_verifies_only_against_a_single_key_set(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    assert_unauthenticated(await call(jwks_brand, rsa_key.token(kid=False)))
    jwks.rotate(rsa_key)
    jwks_clock.advance(AFTER_REFETCH_INTERVAL)
    assert_accepted(await call(jwks_brand, rsa_key.token(kid=False)))


async def test_an_endpoint_that_fails_keeps_the_cached_set_verifying(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    jwks.down = True
    jwks_clock.advance(AFTER_TTL)
    for _ in range(5):
        assert_accepted(await call(jwks_brand, rsa_key.token()))
    # Tried once (and failed); not again on every request while it stays down.
    assert jwks.fetches == 2
    jwks_clock.advance(AFTER_REFETCH_INTERVAL)
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    assert jwks.fetches == 3


async def test_an_endpoint_that_is_gone_keeps_the_cached_set_verifying(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    await jwks.stop()
    jwks_clock.advance(AFTER_TTL)
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    assert_unauthenticated(await call(jwks_brand, rsa_key.token(kid="unknown")))


async def test_an_endpoint_down_with_nothing_cached_answers_503(
    jwks_brand: Brand, jwks: JwksServer, jwks_clock: ManualClock, rsa_key: SigningKey
) -> None:
    jwks.down = True
    for _ in range(3):
        response = await call(jwks_brand, rsa_key.token())
        assert response.status_code == 503, response.text
        assert problem(response)["status"] == 503
    assert jwks.fetches == 1
    jwks.down = False
    jwks_clock.advance(AFTER_REFETCH_INTERVAL)
    assert_accepted(await call(jwks_brand, rsa_key.token()))
    assert jwks.fetches == 2


async def test_an_unreachable_endpoint_with_nothing_cached_answers_503(
    jwks_brand: Brand, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    await jwks.stop()
    response = await call(jwks_brand, rsa_key.token())
    assert response.status_code == 503, response.text


async def test_a_malformed_key_set_is_a_failed_fetch(
    brand: Brand, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    await configure_consumer_auth(brand, jwksUrl=jwks.url + "-missing")
    response = await call(brand, rsa_key.token())
    assert response.status_code == 503, response.text


async def test_a_bad_token_does_not_fetch_the_key_set(
    jwks_brand: Brand, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    """Header checks come first: a none/HMAC token or garbage costs the brand no request."""
    assert_unauthenticated(await call(jwks_brand, unsigned_token(alg="none")))
    assert_unauthenticated(await call(jwks_brand, hmac_token(b"x")))
    assert_unauthenticated(await call(jwks_brand, "garbage"))
    assert jwks.fetches == 0


# --- a key endpoint that misbehaves -----------------------------------------------------------


async def _serve_raw(answer: Callable[[asyncio.StreamWriter], Any]) -> tuple[asyncio.Server, str]:
    """A raw HTTP endpoint on loopback that answers any request with ``answer(writer)``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            await answer(writer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client hung up: what it should do
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/jwks.json"


async def _fifty_megabytes(writer: asyncio.StreamWriter) -> None:
    # No Content-Length: the size shows only while reading.
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n")
    writer.write(b'{"keys": [')
    chunk = b'{"kty": "oct", "k": "' + b"A" * 65_000 + b'"},'
    for _ in range(50 * 1024 * 1024 // len(chunk)):
        writer.write(chunk)
        await writer.drain()


async def _one_byte_a_second(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 999\r\n\r\n"
    )
    for byte in b'{"keys": []' * 90:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1)


async def test_a_50_mb_key_set_is_refused_after_reading_a_fraction_of_it() -> None:
    server, url = await _serve_raw(_fifty_megabytes)
    cache = JwksCache(urls=LOOPBACK_URLS)
    tracemalloc.start()
    try:
        with pytest.raises(ServiceUnavailable):
            async with asyncio.timeout(30):
                await cache.key(url, "k1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await cache.close()
        server.close()
    assert peak < 4 * MAX_JWKS_BYTES + 2 * 1024 * 1024  # a few buffers, never the 50 MB


async def test_a_key_set_dripped_byte_by_byte_is_cut_off_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_auth_module, "JWKS_DEADLINE_SECONDS", 0.5)
    server, url = await _serve_raw(_one_byte_a_second)
    cache = JwksCache(urls=LOOPBACK_URLS)
    try:
        with pytest.raises(ServiceUnavailable):
            # Far less than the 90 s the endpoint would take: the deadline, not a read timeout
            # (each byte comes well within one), ended it.
            async with asyncio.timeout(10):
                await cache.key(url, "k1")
    finally:
        await cache.close()
        server.close()
