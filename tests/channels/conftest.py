"""Fixtures of the channel tests: provider fakes on loopback TLS and apps registered with them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parlay.channels.apns import ApnsClient
from parlay.channels.push import ApnsCredentials, PushApp
from tests.fakes.apns import ApnsFake, running
from tests.fakes.loopback import LOOPBACK_URLS

APNS_TEAM = "TEAM123456"
APNS_KEY = "KEY1234567"
APNS_TOPIC = "com.example.parlay"


@pytest.fixture
async def apns_fake() -> AsyncIterator[ApnsFake]:
    """An APNs fake on 127.0.0.1 with a fresh test CA (``base_url``, ``ca_bundle``)."""
    async with running() as fake:
        yield fake


@pytest.fixture
def apns_app(apns_fake: ApnsFake) -> PushApp:
    """An iOS app whose signing key the fake trusts, pointed at the fake."""
    private_key_pem = apns_fake.new_key(APNS_TEAM, APNS_KEY, APNS_TOPIC)
    credentials = ApnsCredentials(
        team_id=APNS_TEAM,
        key_id=APNS_KEY,
        private_key_pem=private_key_pem,
        environment="sandbox",
        endpoint=apns_fake.base_url,
    )
    return PushApp("acct-1", APNS_TOPIC, "ios", "apns", apns=credentials)


@pytest.fixture
async def apns(apns_fake: ApnsFake) -> AsyncIterator[ApnsClient]:
    """An ``ApnsClient`` that trusts the fake's CA."""
    client = ApnsClient(urls=LOOPBACK_URLS, ca_bundle=apns_fake.ca_bundle)
    try:
        yield client
    finally:
        await client.close()
