"""Fixtures of the outbound tests: a frozen clock, the sandbox channel and a quick dispatcher.

``container`` replaces the one of ``tests/conftest.py`` (so ``client`` and ``brand`` use it):
same database, but its clock moves only when a test moves it and every channel is one
``SandboxChannel`` the test can script and inspect. The dispatcher starts only when a test asks
(``outbound.start()``), so tests of the API alone never race it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from parlay import bootstrap
from parlay.bootstrap import Container, build_container
from parlay.channels.base import Channel
from parlay.channels.sandbox import SandboxChannel
from parlay.config import Settings
from parlay.lib.clock import FrozenClock
from tests.conftest import Brand
from tests.outbound.support import START, Outbound


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sandbox() -> SandboxChannel:
    return SandboxChannel()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dispatch(**settings): Settings fields for this test's dispatcher"
    )


@pytest.fixture
def dispatch_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The dispatcher polls often: a test waits milliseconds, not the production 250 ms.

    ``@pytest.mark.dispatch(worker_batch_size=...)`` changes any other worker setting.
    """
    update: dict[str, object] = {"worker_poll_interval_seconds": 0.01}
    marker = request.node.get_closest_marker("dispatch")
    if marker is not None:
        update |= marker.kwargs
    return settings.model_copy(update=update)


@pytest.fixture(autouse=True)
def quick_housekeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expiry and campaign completion run every 20 ms instead of every second.

    (The housekeeping interval is not a setting, so the config factory is wrapped.)
    """
    original = bootstrap.dispatch_config
    monkeypatch.setattr(
        bootstrap,
        "dispatch_config",
        lambda s: replace(original(s), housekeeping_interval_seconds=0.02),
    )


@pytest.fixture
async def container(
    dispatch_settings: Settings, clock: FrozenClock, sandbox: SandboxChannel
) -> AsyncIterator[Container]:
    channels: dict[str, Channel] = {"inapp": sandbox, "sms": sandbox, "wa": sandbox}
    c = build_container(dispatch_settings, clock=clock, channels=channels)
    yield c
    await c.close()


@pytest.fixture
async def outbound(
    brand: Brand, container: Container, clock: FrozenClock, sandbox: SandboxChannel
) -> Outbound:
    return Outbound(
        brand=brand,
        container=container,
        clock=clock,
        sandbox=sandbox,
        proactive=Brand.auth(await brand.api_key("proactive")),
        c2m=Brand.auth(await brand.api_key("c2m")),
    )
