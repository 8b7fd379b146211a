"""The credentials LivePerson's clients use: a token exchanged for an API key (Sentinel's
client-credentials shape), OAuth 1.0a signed requests, a token without a scheme, and the
Domain API that names Parlay's host."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC, Client

from tests.accounts.conftest import FrozenBrand
from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio


async def _created(brand: Brand, **body: Any) -> dict[str, Any]:
    body = {"name": "ivr", "scopes": ["handoffs:read"], **body}
    response = await brand.client.post(f"{brand.url}/apikeys", json=body, headers=brand.admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _exchange(brand: Brand, client_id: str, client_secret: str) -> httpx.Response:
    return await brand.client.post(
        f"/sentinel/api/account/{brand.id}/app/token?v=1.0&grant_type=client_credentials",
        data={"client_id": client_id, "client_secret": client_secret},
    )


async def test_an_api_key_is_exchanged_for_a_token_that_dies_with_the_key(brand: Brand) -> None:
    created = await _created(brand)
    response = await _exchange(brand, created["clientId"], created["key"])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", 3600)
    token = answer["access_token"]
    handoffs = f"{brand.url}/handoffs"
    for authorization in (f"Bearer {token}", token):  # a token without a scheme is a bearer
        response = await brand.client.get(handoffs, headers={"Authorization": authorization})
        assert response.status_code == 200, response.text
    # The key's scopes, no more.
    response = await brand.client.get(f"{brand.url}/users", headers=Brand.auth(token))
    assert response.status_code == 403
    assert (await _exchange(brand, created["clientId"], created["key"] + "x")).status_code == 401
    revoked = await brand.client.delete(f"{brand.url}/apikeys/{created['id']}", headers=brand.admin)
    assert revoked.status_code == 204
    response = await brand.client.get(handoffs, headers=Brand.auth(token))
    assert (response.status_code, problem(response)["errorCode"]) == (401, 1100)
    assert (await _exchange(brand, created["clientId"], created["key"])).status_code == 401


async def test_an_exchanged_token_expires_after_an_hour(frozen: FrozenBrand) -> None:
    brand = frozen.brand
    created = await _created(brand)
    token = (await _exchange(brand, created["clientId"], created["key"])).json()["access_token"]
    frozen.clock.advance(timedelta(seconds=3600))
    response = await brand.client.get(f"{brand.url}/handoffs", headers=Brand.auth(token))
    assert response.status_code == 401


def _signed(
    keys: dict[str, Any], url: str, timestamp: int, nonce: str, consumer_secret: str | None = None
) -> dict[str, str]:
    client = Client(
        keys["consumerKey"],
        client_secret=consumer_secret or keys["consumerSecret"],
        resource_owner_key=keys["token"],
        resource_owner_secret=keys["tokenSecret"],
        signature_method=SIGNATURE_HMAC,
        timestamp=str(timestamp),
        nonce=nonce,
    )
    _, headers, _ = client.sign(url, "GET")
    return dict(headers)


async def test_oauth1_signed_requests_are_verified_in_time_and_once(frozen: FrozenBrand) -> None:
    brand = frozen.brand
    keys = await _created(brand, kind="oauth1")
    assert "key" not in keys
    path = f"{brand.url}/handoffs"
    url = f"http://parlay.test{path}"
    now = int(frozen.clock.now().timestamp())

    good = _signed(keys, url, now, "nonce-1")
    response = await brand.client.get(path, headers=good)
    assert response.status_code == 200, response.text
    replayed = await brand.client.get(path, headers=good)
    assert (replayed.status_code, "nonce" in problem(replayed)["detail"]) == (401, True)
    # A trailing '/' is signed as the client wrote it.
    slash = _signed(keys, url + "/", now, "nonce-2")
    assert (await brand.client.get(path + "/", headers=slash)).status_code == 200

    bad = _signed(keys, url, now, "nonce-3", consumer_secret="not-the-secret")
    assert (await brand.client.get(path, headers=bad)).status_code == 401
    stale = _signed(keys, url, now - 301, "nonce-4")
    response = await brand.client.get(path, headers=stale)
    assert (response.status_code, "oauth_timestamp" in problem(response)["detail"]) == (401, True)
    # An OAuth key is not a bearer credential, and the nonce of a refused request stays unused.
    assert (await brand.client.get(path, headers=Brand.auth(keys["consumerKey"]))).status_code == (
        401
    )
    assert (
        await brand.client.get(path, headers=_signed(keys, url, now, "nonce-3"))
    ).status_code == (200)


async def test_the_domain_api_names_parlays_host(brand: Brand) -> None:
    response = await brand.client.get(
        f"{brand.url}/service/connectToMessagingDomain/baseURI.json?version=1.0"
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "service": "connectToMessagingDomain",
        "account": brand.id,
        "baseURI": "parlay.test",
    }
