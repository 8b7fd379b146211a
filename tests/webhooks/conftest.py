"""Fixtures of the webhook tests: the outbound engine on the sandbox channel with a frozen clock
(the conversation tests' desk: real deliveries, consumers and agents), a receiver on loopback,
and relays built on the test's container."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from parlay.bootstrap import Container
from parlay.config import Settings
from parlay.dispatch.webhooks import RelayConfig, WebhookRelay
from parlay.lib.clock import FrozenClock
from parlay.lib.observability.metrics import Metrics
from tests.conftest import Brand
from tests.conversations.conftest import desk, rsa_key  # noqa: F401 - fixtures, shared
from tests.fakes.loopback import LOOPBACK_URLS
from tests.fakes.webhooks import WebhookReceiver, running
from tests.outbound.conftest import (  # noqa: F401 - fixtures, shared
    clock,
    container,
    outbound,
    quick_housekeeping,
    sandbox,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dispatch(**settings): Settings fields for this test's dispatcher"
    )


@pytest.fixture
def dispatch_settings(settings: Settings) -> Settings:
    """The dispatcher and an idle relay look every 10 ms, not every 250 or 500."""
    return settings.model_copy(
        update={"worker_poll_interval_seconds": 0.01, "webhook_poll_interval_seconds": 0.01}
    )


@pytest.fixture
async def receiver(clock: FrozenClock) -> AsyncIterator[WebhookReceiver]:  # noqa: F811
    # Signatures carry the relay's (frozen) time: the receiver checks them against it.
    async with running(clock=lambda: clock.now().timestamp()) as r:
        yield r


async def subscribe(brand: Brand, receiver: WebhookReceiver, *events: str) -> dict[str, Any]:
    """A subscription of the brand to the receiver; the receiver learns its secret."""
    response = await brand.client.post(
        f"{brand.url}/webhooks",
        json={"url": receiver.url, "events": list(events), "description": "tests"},
        headers=brand.admin,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secret = created["secret"]
    return created


def relay(
    c: Container, frozen: FrozenClock, metrics: Metrics | None = None, **config: Any
) -> WebhookRelay:
    """A relay of its own (not started: the test turns it), jitter seeded."""
    return WebhookRelay(
        c.db,
        frozen,
        c.secrets,
        LOOPBACK_URLS,
        RelayConfig(**config),
        rng=random.Random(7),
        metrics=metrics,
    )
