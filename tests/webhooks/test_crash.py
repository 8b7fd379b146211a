"""A real ``parlay worker`` killed (SIGKILL) while webhook events are pending, then restarted:
no event is lost. Duplicates are allowed (at least once) and counted: only what the dead relay
had leased and not yet recorded is sent again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from parlay.lib.clock import SystemClock
from parlay.lib.db.engine import Database
from parlay.lib.secretbox import SecretBox
from parlay.webhooks import service
from parlay.webhooks.outbox import delivery_event_id
from tests.conftest import TEST_SECRET_KEY
from tests.fakes.webhooks import WebhookReceiver, in_thread
from tests.outbound.processes import (
    Worker,
    kill,
    queue_wa_campaign,
    start_worker,
    stop,
    wait_settled,
    wait_started,
)

pytestmark = pytest.mark.slow

CONSUMERS = 600
BATCH, LANES = 500, 2  # the relay's defaults: what one relay may hold leased at once


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    stop(started)


async def _subscribe(database_url: str, account_id: str, url: str) -> str:
    db = Database(database_url, pool_size=1)
    try:
        async with db.write() as session:
            _, secret = await service.create(
                session,
                SecretBox([TEST_SECRET_KEY]),
                account_id,
                url=url,
                events=["delivery.*"],
                description=None,
                now=SystemClock().now(),
            )
    finally:
        await db.dispose()
    return secret


def _wait_received(receiver: WebhookReceiver, wanted: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not wanted <= set(receiver.ids()):
        if time.monotonic() > deadline:
            missing = wanted - set(receiver.ids())
            pytest.fail(f"{len(missing)} events never arrived, e.g. {sorted(missing)[:3]}")
        time.sleep(0.05)


def test_a_worker_killed_while_events_are_pending_loses_none(
    postgres_database: str, tmp_path: Path, workers: list[Worker]
) -> None:
    settings = {
        "allow_private_urls": True,
        "webhook_concurrency": 4,  # with a slow receiver: events pile up in the outbox
        "webhook_lease_seconds": 5,  # a turn under load outlasting its lease sends twice
        "webhook_timeout_seconds": 1,
        "webhook_poll_interval_seconds": 0.05,
        "worker_poll_interval_seconds": 0.05,
    }
    campaign = asyncio.run(queue_wa_campaign(postgres_database, CONSUMERS))
    wanted = {delivery_event_id(d, 1) for d in campaign.delivery_ids}  # each one's SENT
    with in_thread() as receiver:
        receiver.secret = asyncio.run(
            _subscribe(postgres_database, campaign.account_id, receiver.url)
        )
        receiver.delay_seconds = 0.01
        first = start_worker("first", tmp_path, postgres_database, **settings)
        workers.append(first)
        wait_started([first])
        deadline = time.monotonic() + 30
        while len(receiver.received) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        kill(first)
        before = len(set(receiver.ids()))
        assert 0 < before < CONSUMERS, f"the kill did not land while events were pending: {before}"

        second = start_worker("second", tmp_path, postgres_database, **settings)
        workers.append(second)
        counts = wait_settled(postgres_database, campaign.campaign_id, workers, timeout=40)
        _wait_received(receiver, wanted, timeout=60)

    assert counts == {"SENT": CONSUMERS}
    assert receiver.refusals == []
    ids = receiver.ids()
    duplicates = sum(ids[w] for w in wanted) - len(wanted)
    print(f"\nkilled after {before} events arrived; {duplicates} arrived twice")
    assert duplicates <= BATCH * LANES
