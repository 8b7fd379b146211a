"""Fixtures of the accounts tests: a brand whose clock the test moves, and consumer-JWT keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parlay.app import create_app
from parlay.bootstrap import build_container
from parlay.config import Settings
from parlay.lib.clock import FrozenClock
from parlay.lib.http.urls import UrlPolicy
from tests.conftest import Brand, make_brand


@dataclass
class FrozenBrand:
    brand: Brand
    clock: FrozenClock
    settings: Settings


@pytest.fixture
async def frozen(settings: Settings, url_policy: UrlPolicy) -> AsyncIterator[FrozenBrand]:
    """A brand served by an app whose clock only moves when the test advances it."""
    clock = FrozenClock()
    container = build_container(settings, clock=clock, urls=url_policy)
    transport = httpx.ASGITransport(app=create_app(container.services))
    async with httpx.AsyncClient(transport=transport, base_url="http://parlay.test") as client:
        yield FrozenBrand(await make_brand(container, client, "acme"), clock, settings)
    await container.close()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="session")
def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_public_pem(rsa_private_key: rsa.RSAPrivateKey) -> str:
    return _public_pem(rsa_private_key)


@pytest.fixture(scope="session")
def rsa_private_pem(rsa_private_key: rsa.RSAPrivateKey) -> str:
    return rsa_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
