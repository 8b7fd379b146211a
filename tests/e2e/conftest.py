"""The App Messaging world of the end-to-end tests: a brand with an iOS app on APNs, an Android
app on FCM and one behind a push proxy, each provider a fake over loopback (HTTP/2 + TLS for
APNs and FCM), consumers with a device on each, and the real API, dispatcher and push clients.

``@pytest.mark.shared_redis``: the world's live events and presence go through Redis, so a second
process (``World.second_process``) shares them.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parlay.app import create_app
from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from tests.conftest import TEST_SECRET_KEY, Brand, make_brand
from tests.fakes import fcm as fcm_fake
from tests.fakes import pushproxy as proxy_fake
from tests.fakes.apns import ApnsFake, running
from tests.ratelimit.conftest import redis_reachable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shared_redis: the world's live events and presence go through Redis"
    )


IOS_APP, ANDROID_APP, PROXY_APP = "com.acme.ios", "com.acme.android", "com.acme.proxied"
TEAM, KEY_ID = "TEAM123456", "KEY1234567"
ISSUER, AUDIENCE = "https://id.acme.example", "parlay"
PROXY_SECRET = "proxy-signing-secret-0123"
IOS_TOKEN = "a1" * 32
ANDROID_TOKEN = "fcm-token-android-1"
PROXY_TOKEN = "proxy-token-1"


@dataclass
class World:
    brand: Brand
    container: Container
    apns: ApnsFake
    fcm: fcm_fake.FcmFake
    proxy: proxy_fake.PushProxyFake
    signing_key: rsa.RSAPrivateKey

    @asynccontextmanager
    async def second_process(self) -> AsyncIterator[Container]:
        """Another Parlay on the same database (and Redis, with ``shared_redis``), serving the
        API only: no dispatcher of its own."""
        other = build_container(self.container.settings)
        try:
            yield other
        finally:
            await other.close()

    def consumer(self, consumer_id: str) -> dict[str, str]:
        now = int(time.time())
        token = jwt.encode(
            {"sub": consumer_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600},
            self.signing_key,
            algorithm="RS256",
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def world(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    redis_url = (
        redis_reachable() if request.node.get_closest_marker("shared_redis") is not None else None
    )
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    async with (
        running() as apns,
        fcm_fake.running() as fcm,
        proxy_fake.running(secret=PROXY_SECRET) as proxy,
    ):
        # Both fakes serve TLS with a test CA of their own: Parlay trusts the two.
        ca_bundle = tmp_path / "provider-cas.pem"
        ca_bundle.write_text(Path(apns.ca_bundle).read_text() + Path(fcm.ca_bundle).read_text())
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            sandbox_channels="",  # in-app goes to the real push clients
            provider_ca_bundle=str(ca_bundle),
            worker_backoff_base_seconds=0.05,  # retries within the test's patience
            worker_max_attempts=3,
            log_json=False,
            allow_private_urls=True,  # the fakes listen on 127.0.0.1
            secret_key=TEST_SECRET_KEY,
        )
        container = build_container(settings)
        transport = httpx.ASGITransport(app=create_app(container.services))
        async with httpx.AsyncClient(transport=transport, base_url="http://parlay.test") as client:
            brand = await make_brand(container, client, "acme")
            world = World(brand, container, apns, fcm, proxy, signing_key)
            await _configure(world, public_pem)
            container.start_dispatcher()
            try:
                yield world
            finally:
                await container.close()


async def _configure(w: World, public_pem: str) -> None:
    b = w.brand
    settings = await b.client.put(
        f"{b.url}/settings",
        headers=b.admin,
        json={
            "consumerAuth": {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "algorithms": ["RS256"],
                "publicKeyPem": public_pem,
            }
        },
    )
    assert settings.status_code == 200, settings.text
    apps = [
        {
            "appId": IOS_APP,
            "platform": "ios",
            "pushService": "apns",
            "apns": {
                "teamId": TEAM,
                "keyId": KEY_ID,
                "privateKeyPem": w.apns.new_key(TEAM, KEY_ID, IOS_APP),
                "environment": "sandbox",
                "endpoint": w.apns.base_url,
            },
        },
        {
            "appId": ANDROID_APP,
            "platform": "android",
            "pushService": "fcm",
            "fcm": {
                "serviceAccountJson": json.dumps(w.fcm.service_account()),
                "endpoint": w.fcm.url,
            },
        },
        {
            "appId": PROXY_APP,
            "platform": "android",
            "pushService": "proxy",
            "proxy": {"url": w.proxy.url, "secret": PROXY_SECRET},
        },
    ]
    for app in apps:
        response = await b.client.post(f"{b.url}/apps", headers=b.admin, json=app)
        assert response.status_code == 201, response.text
    for consumer, device, app_id, token in (
        ("alice", "iphone-1", IOS_APP, IOS_TOKEN),
        ("bob", "pixel-1", ANDROID_APP, ANDROID_TOKEN),
        ("carol", "galaxy-1", PROXY_APP, PROXY_TOKEN),
    ):
        await register_device(w, consumer, device, app_id, token)


async def register_device(w: World, sub: str, device_id: str, app_id: str, token: str) -> None:
    """The consumer ``sub``'s app ``app_id`` registers ``device_id`` with push token ``token``."""
    platform, service = {
        IOS_APP: ("ios", "apns"),
        ANDROID_APP: ("android", "fcm"),
        PROXY_APP: ("android", "proxy"),
    }[app_id]
    response = await w.brand.client.put(
        f"{w.brand.url}/consumer/devices/{device_id}",
        headers=w.consumer(sub),
        json={
            "appId": app_id,
            "platform": platform,
            "pushService": service,
            "pushToken": token,
            "osVersion": "17.1",
            "deviceModel": "test",
            "sdkVersion": "6.2.0",
        },
    )
    assert response.status_code == 200, response.text
