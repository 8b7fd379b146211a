"""The relay against a receiver on loopback, turned by the test with a frozen clock: a failed
event comes again after its backoff, a subscription failing for 24 hours is disabled (and says
why), and two relays on one database send each event once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from parlay.bootstrap import Container
from parlay.lib.clock import FrozenClock
from parlay.lib.observability.metrics import Metrics
from parlay.webhooks import outbox
from parlay.webhooks.models import WebhookAttempt, WebhookOutboxEvent
from tests.conftest import Brand
from tests.fakes.webhooks import WebhookReceiver
from tests.webhooks.conftest import relay, subscribe

pytestmark = pytest.mark.anyio


async def _get(brand: Brand, path: str, headers: dict[str, str] | None = None) -> Any:
    response = await brand.client.get(f"{brand.url}/webhooks{path}", headers=headers or brand.admin)
    assert response.status_code == 200, response.text
    return response.json()


async def _ping(brand: Brand, webhook_id: int) -> str:
    response = await brand.client.post(
        f"{brand.url}/webhooks/{webhook_id}/test", headers=brand.admin
    )
    assert response.status_code == 202, response.text
    event_id: str = response.json()["eventId"]
    return event_id


async def _any_due(container: Container, clock: FrozenClock) -> bool:
    async with container.db.lookup() as connection:
        return await outbox.any_due(connection, clock.now())


async def test_a_receiver_answering_500_gets_the_event_again_after_its_backoff(
    brand: Brand, container: Container, clock: FrozenClock, receiver: WebhookReceiver
) -> None:
    webhook = await subscribe(brand, receiver, "delivery.*")
    assert "secret" not in await _get(brand, f"/{webhook['id']}")
    event_id = await _ping(brand, webhook["id"])
    receiver.answers.extend([500])
    r = relay(container, clock, backoff_base_seconds=10)

    assert await r.run_once() == 1  # answered 500
    assert await r.run_once() == 0  # not due again yet: backoff of 5-10 s
    clock.advance(timedelta(seconds=4.9))
    assert not await _any_due(container, clock)  # an idle relay's poll reads, and leases nothing
    assert await r.run_once(look_first=True) == 0
    clock.advance(timedelta(seconds=5.1))
    assert await _any_due(container, clock)
    assert await r.run_once(look_first=True) == 1  # answered 200

    assert receiver.ids() == {event_id: 2}
    assert receiver.received[0].event["type"] == "ping"
    assert receiver.received[0].event["data"] == {"subscriptionId": webhook["id"]}
    attempts = (await _get(brand, f"/{webhook['id']}/attempts"))["attempts"]
    assert [(a["eventId"], a["statusCode"], a["error"], a["succeeded"]) for a in attempts] == [
        (event_id, 200, None, True),
        (event_id, 500, "HTTP 500", False),
    ]
    assert (await _get(brand, f"/{webhook['id']}"))["pendingEvents"] == 0


async def test_the_relay_lag_runs_from_queued_to_accepted_retries_included(
    brand: Brand, container: Container, clock: FrozenClock, receiver: WebhookReceiver
) -> None:
    webhook = await subscribe(brand, receiver, "delivery.*")
    await _ping(brand, webhook["id"])
    receiver.answers.extend([500])
    metrics = Metrics()
    r = relay(container, clock, metrics, backoff_base_seconds=10)

    assert await r.run_once() == 1  # answered 500: no lag observed yet
    assert metrics.registry.get_sample_value("parlay_webhook_relay_lag_seconds_count") == 0
    clock.advance(timedelta(seconds=30))
    assert await r.run_once() == 1  # answered 200, 30 s after it was queued

    def sample(name: str) -> float | None:
        return metrics.registry.get_sample_value(name)

    assert sample("parlay_webhook_relay_lag_seconds_count") == 1
    assert sample("parlay_webhook_relay_lag_seconds_sum") == 30
    assert sample("parlay_webhook_relay_oldest_seconds") == 30
    assert await r.run_once() == 0  # nothing left: nothing behind
    assert sample("parlay_webhook_relay_oldest_seconds") == 0


async def test_a_subscription_failing_for_24_hours_is_disabled_and_says_why(
    brand: Brand, container: Container, clock: FrozenClock, receiver: WebhookReceiver
) -> None:
    # A brand system's key (scope webhooks): a staff login would expire during the day.
    key = Brand.auth(await brand.api_key("webhooks"))
    webhook = await subscribe(brand, receiver, "delivery.*")
    path, url = f"/{webhook['id']}", f"{brand.url}/webhooks/{webhook['id']}"
    event_id = await _ping(brand, webhook["id"])
    receiver.default = 503
    r = relay(container, clock)

    tries = 0
    while (await _get(brand, path, key))["state"] == "active":
        tries += await r.run_once()
        clock.advance(timedelta(hours=1))  # the longest backoff: every turn finds it due
        assert tries < 40, "still active long after 24 hours"

    state = await _get(brand, path, key)
    assert state["disabledReason"].startswith("events failed for 24 hours (last: HTTP 503)")
    assert state["pendingEvents"] == 1  # kept, not dropped
    # Retried with growing gaps: 5-10 s, 10-20 s, ... then hourly: about 30 tries in a day.
    assert 24 <= tries <= 32
    assert await r.run_once() == 0  # a disabled subscription gets nothing
    assert not await _any_due(container, clock)  # nor does a poll's read find it due
    refused = await brand.client.post(f"{url}/test", headers=key)
    assert refused.status_code == 409, refused.text

    receiver.default = 204
    enabled = await brand.client.post(f"{url}/enable", headers=key)
    assert enabled.json()["state"] == "active", enabled.text
    assert await r.run_once() == 1
    assert receiver.ids()[event_id] == tries + 1
    assert (await _get(brand, path, key))["pendingEvents"] == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_relays_send_each_event_once_and_keep_the_last_100_attempts(
    brand: Brand, container: Container, clock: FrozenClock, receiver: WebhookReceiver
) -> None:
    webhook = await subscribe(brand, receiver, "conversation.*")
    async with container.db.write() as session:
        for n in range(120):
            await outbox.enqueue_event(
                session, brand.id, "conversation.message", {"n": n}, clock.now()
            )
    a = relay(container, clock, batch_size=10, lanes=1)
    b = relay(container, clock, batch_size=10, lanes=1)

    async def drain(r: Any) -> int:
        sent = 0
        while n := await r.run_once():
            sent += n
        return sent

    by_a, by_b = await asyncio.gather(drain(a), drain(b))

    assert by_a + by_b == 120
    assert min(by_a, by_b) > 0, (by_a, by_b)
    assert len(receiver.ids()) == 120
    assert set(receiver.ids().values()) == {1}
    async with container.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookOutboxEvent)) == 0
        kept = await session.scalar(
            select(func.count())
            .select_from(WebhookAttempt)
            .where(WebhookAttempt.subscription_id == webhook["id"])
        )
    assert kept == 100
