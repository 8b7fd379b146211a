"""Fixtures of the consumer API tests: the brand's identity provider, its apps, and the SDK.

``container`` replaces the one of ``tests/conftest.py`` (so ``client`` and ``brand`` use it):
its clock moves only when a test moves it (receipt times, lookbacks), and its JWKS cache reads
a monotonic clock the test moves too (the TTL and the once-a-minute refetch). Token expiry is
checked against the real time, as PyJWT does: tokens are minted with the real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.consumers.auth import JwksCache
from parlay.lib.clock import FrozenClock
from tests.apps.bodies import ANDROID_APP, IOS_APP, apns_app, fcm_app
from tests.conftest import Brand
from tests.fakes.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey
from tests.fakes.loopback import ManualClock

START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def jwks_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def container(
    settings: Settings, clock: FrozenClock, jwks_clock: ManualClock
) -> AsyncIterator[Container]:
    c = build_container(settings, clock=clock)
    c.jwks = JwksCache(urls=c.urls, monotonic=jwks_clock)
    yield c
    await c.close()


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rsa()


@pytest.fixture(scope="session")
def other_rsa_key() -> SigningKey:
    """A key the brand never published: its signatures are forgeries."""
    return SigningKey.rsa()


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.ec()


def consumer_auth(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["RS256"]}
    config.update(overrides)
    return config


async def configure_consumer_auth(brand: Brand, **config: Any) -> None:
    response = await brand.client.put(
        f"{brand.url}/settings",
        json={"consumerAuth": consumer_auth(**config)},
        headers=brand.admin,
    )
    assert response.status_code == 200, response.text


@dataclass
class Sdk:
    """The brand's mobile app with the SDK: calls the consumer API with tokens of ``key``."""

    brand: Brand
    key: SigningKey

    @property
    def url(self) -> str:
        return f"{self.brand.url}/consumer"

    def headers(self, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key.token(sub)}"}

    async def put_device(
        self, device_id: str, sub: str = "consumer-1", **fields: Any
    ) -> httpx.Response:
        return await self.brand.client.put(
            f"{self.url}/devices/{device_id}", json=device(**fields), headers=self.headers(sub)
        )

    async def register(self, device_id: str, sub: str = "consumer-1", **fields: Any) -> Any:
        response = await self.put_device(device_id, sub, **fields)
        assert response.status_code == 200, response.text
        return response.json()

    async def logout(
        self, device_id: str, unregister_type: str | None, sub: str = "consumer-1"
    ) -> httpx.Response:
        body = {} if unregister_type is None else {"unregisterType": unregister_type}
        return await self.brand.client.post(
            f"{self.url}/devices/{device_id}/logout", json=body, headers=self.headers(sub)
        )

    async def receipt(
        self, push_message_id: str, kind: str, sub: str = "consumer-1"
    ) -> httpx.Response:
        return await self.brand.client.post(
            f"{self.url}/push/{push_message_id}/{kind}", headers=self.headers(sub)
        )

    async def pending(self, sub: str = "consumer-1") -> list[dict[str, Any]]:
        response = await self.brand.client.get(
            f"{self.url}/pending-outbound", headers=self.headers(sub)
        )
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages


def device(**overrides: Any) -> dict[str, Any]:
    """A registration body of the iOS app (APNs); a field given as ``None`` is left out."""
    body: dict[str, Any] = {
        "appId": IOS_APP,
        "platform": "ios",
        "pushService": "apns",
        "pushToken": "a1" * 32,
        "osVersion": "18.2",
        "deviceModel": "iPhone16,2",
        "sdkVersion": "1.4.0",
        "country": "US",
        "city": "San Francisco",
        **overrides,
    }
    return {k: v for k, v in body.items() if v is not None}


async def create_apps(brand: Brand) -> None:
    """The brand's iOS app (APNs) and Android app (FCM)."""
    for body in (apns_app(IOS_APP), fcm_app(ANDROID_APP)):
        response = await brand.client.post(f"{brand.url}/apps", json=body, headers=brand.admin)
        assert response.status_code == 201, response.text


@pytest.fixture
async def sdk(brand: Brand, rsa_key: SigningKey) -> Sdk:
    """The brand verifies consumer tokens with ``rsa_key``'s PEM and has both apps."""
    await configure_consumer_auth(brand, publicKeyPem=rsa_key.public_pem)
    await create_apps(brand)
    return Sdk(brand, rsa_key)


@pytest.fixture
async def jwks(rsa_key: SigningKey, ec_key: SigningKey) -> AsyncIterator[JwksServer]:
    server = JwksServer(rsa_key, ec_key)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
