"""Idempotency tests run on a frozen clock, so that a key's time to live can be crossed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.lib.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def container(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    """The container of ``tests/conftest.py``, with a clock that moves only when told to."""
    c = build_container(settings, clock=clock)
    yield c
    await c.close()
