"""Every URL a brand saves for Parlay to fetch (``proxy.url``, ``apns.endpoint``,
``fcm.endpoint``, the service account's ``token_uri``, ``consumerAuth.jwksUrl``) follows the one
URL policy: without ``PARLAY_ALLOW_PRIVATE_URLS``, https to public addresses only, whatever the
spelling; a refusal is a 400 naming the field. Names resolve with ``tests/fakes/dns.py``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.apps.bodies import apns_app, fcm_app, proxy_app, service_account_json
from tests.apps.conftest import AppsApi
from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio

INTERNAL = [
    "https://127.0.0.1/push",
    "https://localhost/push",
    "https://localhost./push",
    "https://10.0.0.5/push",
    "https://172.16.0.1/push",
    "https://192.168.1.20/push",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/push",
    "https://[::ffff:127.0.0.1]/push",
    "https://[::ffff:7f00:1]/push",
    "https://2130706433/push",
    "https://0x7f000001/push",
    "https://0177.0.0.1/push",
    "https://127.1/push",
    "https://[fe80::1]/push",
    "https://224.0.0.1/push",
    "https://0.0.0.0/push",
    "https://100.64.0.1/push",
    "https://[fc00::1]/push",
    "https://127.0.0.1.nip.io/push",  # a name that resolves to loopback
    "https://internal.acme.example/push",  # ... to a private address
    "https://metadata.acme.example/push",  # ... to the cloud metadata address
    "https://mixed.acme.example/push",  # one public address and one private
    "https://loopback6.acme.example/push",
    "https://nowhere.invalid/push",  # does not resolve
    "http://push.acme.example/push",  # public, but not https
]

Save = Callable[[str], Awaitable[httpx.Response]]


def _field_savers(apps: AppsApi, brand: Brand) -> dict[str, Save]:
    async def settings(body: dict[str, Any]) -> httpx.Response:
        return await brand.client.put(f"{brand.url}/settings", json=body, headers=brand.admin)

    def jwks(url: str) -> dict[str, Any]:
        auth = {"issuer": "https://id.acme.example", "audience": "acme-app"}
        return {"consumerAuth": {**auth, "algorithms": ["RS256"], "jwksUrl": url}}

    return {
        "proxy.url": lambda url: apps.post(proxy_app(url=url)),
        "apns.endpoint": lambda url: apps.post(apns_app(endpoint=url)),
        "fcm.endpoint": lambda url: apps.post(fcm_app(endpoint=url)),
        "fcm.serviceAccountJson.token_uri": lambda url: apps.post(
            fcm_app(serviceAccountJson=service_account_json(token_uri=url))
        ),
        "consumerAuth.jwksUrl": lambda url: settings(jwks(url)),
    }


FIELDS = [
    "proxy.url",
    "apns.endpoint",
    "fcm.endpoint",
    "fcm.serviceAccountJson.token_uri",
    "consumerAuth.jwksUrl",
]


@pytest.mark.edge
@pytest.mark.production_urls
@pytest.mark.parametrize("field", FIELDS)
async def test_every_url_field_refuses_internal_addresses_in_every_spelling(
    apps: AppsApi, brand: Brand, field: str
) -> None:
    save = _field_savers(apps, brand)[field]
    for url in INTERNAL:
        response = await save(url)
        assert response.status_code == 400, (url, response.text)
        body = problem(response)
        assert body["errorCode"] == 1000
        assert [e["field"] for e in body["errors"]] == [field], (url, body)
        assert field in body["errorMessage"]
    assert (await apps.list()).json()["apps"] == []


@pytest.mark.production_urls
@pytest.mark.parametrize("field", FIELDS)
async def test_every_url_field_accepts_a_public_https_url(
    apps: AppsApi, brand: Brand, field: str
) -> None:
    save = _field_savers(apps, brand)[field]
    response = await save("https://push.acme.example:8443/notify")
    assert response.status_code in (200, 201), response.text


@pytest.mark.production_urls
async def test_a_refusal_says_what_the_address_is(apps: AppsApi) -> None:
    response = await apps.post(proxy_app(url="https://[::ffff:169.254.169.254]/"))
    message = problem(response)["errors"][0]["message"]
    assert "::ffff:169.254.169.254 is a link-local address" in message
    assert "public internet addresses" in message


@pytest.mark.production_urls
async def test_a_put_is_checked_like_a_post(apps: AppsApi) -> None:
    await apps.create(proxy_app())
    response = await apps.put(proxy_app()["appId"], proxy_app(url="https://10.0.0.5/push"))
    assert response.status_code == 400, response.text
    assert problem(response)["errors"][0]["field"] == "proxy.url"
    assert (await apps.push_view(proxy_app()["appId"])).proxy.url == (  # type: ignore[union-attr]
        "https://push.acme.example/notify"
    )


@pytest.mark.parametrize("field", FIELDS)
async def test_with_the_policy_lifted_loopback_is_accepted(
    apps: AppsApi, brand: Brand, field: str
) -> None:
    """``PARLAY_ALLOW_PRIVATE_URLS=true`` (this suite's default, and the demo's)."""
    save = _field_savers(apps, brand)[field]
    response = await save("https://127.0.0.1:8443/push")
    assert response.status_code in (200, 201), response.text
