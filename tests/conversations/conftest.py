"""Fixtures of the conversation tests: the outbound engine on the sandbox channel (so that
consumers have real, sent deliveries to reply to), the brand's SDK, and agents."""

from __future__ import annotations

import pytest

from tests.conftest import Brand
from tests.consumers.conftest import Sdk, configure_consumer_auth, create_apps
from tests.conversations.support import Desk
from tests.fakes.jwks import SigningKey
from tests.outbound.conftest import (  # noqa: F401 - fixtures, shared
    clock,
    container,
    dispatch_settings,
    quick_housekeeping,
    sandbox,
)
from tests.outbound.conftest import outbound as outbound
from tests.outbound.support import Outbound


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dispatch(**settings): Settings fields for this test's dispatcher"
    )


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rsa()


@pytest.fixture
async def desk(brand: Brand, outbound: Outbound, rsa_key: SigningKey) -> Desk:
    await configure_consumer_auth(brand, publicKeyPem=rsa_key.public_pem)
    await create_apps(brand)
    outbound.start()
    return Desk(brand, outbound, Sdk(brand, rsa_key))
