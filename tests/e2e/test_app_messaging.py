"""App Messaging end to end: a campaign to consumers with iOS (APNs), Android (FCM) and
push-proxy devices, through the real API, dispatcher and push clients, to the provider fakes
over loopback (HTTP/2 + TLS for APNs)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from parlay.apps.models import Device
from parlay.delivery.models import Delivery
from tests.conftest import Brand
from tests.e2e.conftest import (
    ANDROID_APP,
    ANDROID_TOKEN,
    IOS_APP,
    IOS_TOKEN,
    PROXY_APP,
    PROXY_TOKEN,
    World,
)

pytestmark = pytest.mark.anyio


async def _handoff(b: Brand) -> str:
    response = await b.client.post(
        f"{b.url}/handoffs",
        headers=b.admin,
        json={
            "name": "Bill reminder",
            "skill": "billing",
            "lookbackPeriodDay": 2,
            "channels": [
                {
                    "type": "inapp",
                    "appIds": [IOS_APP, ANDROID_APP, PROXY_APP],
                    "messageText": "Your bill is ready 📄",
                    "notificationTitle": "Acme",
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _campaign(b: Brand, handoff_id: str, *consumers: str) -> str:
    response = await b.client.post(
        f"/api/v2/account/{b.id}/campaign",
        headers=b.admin,
        json={
            "campaignName": "November bills",
            "skill": "billing",
            "templateId": handoff_id,
            "consent": True,
            "consumers": [{"consumerContent": {"inapp": c}} for c in consumers],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["acceptedCount"] == len(consumers)
    return str(response.json()["proactiveCampaignId"])


async def _settled(w: World, campaign_id: str) -> dict[str, Delivery]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async with w.container.db.read() as session:
            rows = (
                (await session.execute(select(Delivery).where(Delivery.campaign_id == campaign_id)))
                .scalars()
                .all()
            )
        if rows and all(r.status not in ("QUEUED", "SCHEDULED") for r in rows):
            return {str(r.consumer_id): r for r in rows}
        await asyncio.sleep(0.05)
    raise AssertionError(f"campaign {campaign_id} did not settle: {[r.status for r in rows]}")


async def test_a_campaign_reaches_apns_fcm_and_the_push_proxy_with_the_right_requests(
    world: World,
) -> None:
    w, b = world, world.brand
    handoff_id = await _handoff(b)
    campaign_id = await _campaign(b, handoff_id, "alice", "bob", "carol")
    deliveries = await _settled(w, campaign_id)
    assert {c: d.status for c, d in deliveries.items()} == {
        "alice": "SENT",
        "bob": "SENT",
        "carol": "SENT",
    }
    lookback = timedelta(days=2)

    (apns_request,) = w.apns.accepted
    alice = deliveries["alice"]
    assert apns_request.token == IOS_TOKEN
    headers = apns_request.headers
    assert headers["apns-topic"] == IOS_APP
    assert headers["apns-push-type"] == "alert"
    expected_expiry = (alice.attempted_time + lookback).timestamp()
    assert abs(int(headers["apns-expiration"]) - expected_expiry) <= 2
    assert alice.provider_message_id == headers["apns-id"]
    payload: dict[str, Any] = apns_request.payload or {}
    assert payload["aps"]["alert"] == {"title": "Acme", "body": "Your bill is ready 📄"}
    assert payload["pushMessageId"] == str(alice.id)
    assert payload["backendService"] == "prmsg"
    assert payload["lookBackPeriod"] == int(lookback.total_seconds())
    assert payload["campaignInfo"]["campaignId"] == campaign_id

    (fcm_message,) = w.fcm.accepted
    bob = deliveries["bob"]
    message = fcm_message.message
    assert message["token"] == ANDROID_TOKEN
    ttl_seconds = int(message["android"]["ttl"].removesuffix("s"))
    assert abs(ttl_seconds - lookback.total_seconds()) <= 2
    assert message["data"]["pushMessageId"] == str(bob.id)
    assert message["data"]["backendService"] == "prmsg"
    assert all(isinstance(v, str) for v in message["data"].values())

    (proxy_push,) = w.proxy.pushes  # the fake accepts only correctly signed pushes
    assert proxy_push.body["deviceToken"] == PROXY_TOKEN
    assert proxy_push.body["pushMessageId"] == str(deliveries["carol"].id)
    assert w.proxy.refusals == []


async def test_a_dead_apns_token_is_disabled_and_the_next_campaign_fails_no_push_token(
    world: World,
) -> None:
    w, b = world, world.brand
    handoff_id = await _handoff(b)
    w.apns.script(IOS_TOKEN, "unregistered")

    first = await _settled(w, await _campaign(b, handoff_id, "alice"))
    assert (first["alice"].status, first["alice"].error_code) == ("FAILED", "TOKEN_UNREGISTERED")
    assert first["alice"].error_source == "apns"
    async with w.container.db.read() as session:
        device = await session.scalar(select(Device).where(Device.device_id == "iphone-1"))
    assert device is not None
    assert device.token_disabled_at is not None

    calls_before = len(w.apns.records)
    second = await _settled(w, await _campaign(b, handoff_id, "alice"))
    assert (second["alice"].status, second["alice"].error_code) == ("FAILED", "NO_PUSH_TOKEN")
    assert len(w.apns.records) == calls_before, "APNs must not be called for a dead token"


async def test_registering_a_new_token_revives_pushes_after_unregistered(world: World) -> None:
    w, b = world, world.brand
    handoff_id = await _handoff(b)
    w.apns.script(IOS_TOKEN, "unregistered")
    await _settled(w, await _campaign(b, handoff_id, "alice"))
    new_token = "b2" * 32
    response = await b.client.put(
        f"{b.url}/consumer/devices/iphone-1",
        headers=w.consumer("alice"),
        json={
            "appId": IOS_APP,
            "platform": "ios",
            "pushService": "apns",
            "pushToken": new_token,
            "osVersion": "17.2",
            "deviceModel": "test",
            "sdkVersion": "6.2.0",
        },
    )
    assert response.status_code == 200, response.text
    again = await _settled(w, await _campaign(b, handoff_id, "alice"))
    assert again["alice"].status == "SENT"
    assert w.apns.accepted[-1].token == new_token


async def test_a_transient_apns_failure_is_retried_with_the_same_apns_id(world: World) -> None:
    w, b = world, world.brand
    handoff_id = await _handoff(b)
    w.apns.script(IOS_TOKEN, "unavailable")
    campaign_id = await _campaign(b, handoff_id, "alice")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not w.apns.accepted:
        await asyncio.sleep(0.05)  # the retry waits for its backoff
    deliveries = await _settled(w, campaign_id)
    assert deliveries["alice"].status == "SENT"
    assert deliveries["alice"].attempts == 2
    first, second = w.apns.requests_for(IOS_TOKEN)
    assert first.status == 503
    assert second.status == 200
    assert first.headers["apns-id"] == second.headers["apns-id"]


async def test_a_permanent_apns_refusal_fails_provider_rejected_with_the_reason(
    world: World,
) -> None:
    w, b = world, world.brand
    w.apns.script(IOS_TOKEN, "reason:TopicDisallowed")
    deliveries = await _settled(w, await _campaign(b, await _handoff(b), "alice"))
    alice = deliveries["alice"]
    assert (alice.status, alice.error_code, alice.error_source) == (
        "FAILED",
        "PROVIDER_REJECTED",
        "apns",
    )
    assert "TopicDisallowed" in (alice.error_message or "")
    assert len(w.apns.requests_for(IOS_TOKEN)) == 1, "a permanent refusal is not retried"


async def test_fcm_unavailable_beyond_the_retry_budget_fails_provider_unavailable(
    world: World,
) -> None:
    w, b = world, world.brand
    w.fcm.script(ANDROID_TOKEN, "unavailable", "unavailable", "unavailable", "unavailable")
    deliveries = await _settled(w, await _campaign(b, await _handoff(b), "bob"))
    bob = deliveries["bob"]
    assert (bob.status, bob.error_code, bob.error_source) == (
        "FAILED",
        "PROVIDER_UNAVAILABLE",
        "fcm",
    )
    assert bob.attempts == 3


async def test_a_dead_token_is_disabled_even_when_another_device_took_the_push(
    world: World,
) -> None:
    w, b = world, world.brand
    response = await b.client.put(
        f"{b.url}/consumer/devices/pixel-2",
        headers=w.consumer("alice"),
        json={
            "appId": ANDROID_APP,
            "platform": "android",
            "pushService": "fcm",
            "pushToken": "fcm-token-alice",
            "osVersion": "14",
            "deviceModel": "test",
            "sdkVersion": "6.2.0",
        },
    )
    assert response.status_code == 200, response.text
    w.apns.script(IOS_TOKEN, "unregistered")
    deliveries = await _settled(w, await _campaign(b, await _handoff(b), "alice"))
    assert deliveries["alice"].status == "SENT"  # the Android device took it
    async with w.container.db.read() as session:
        iphone = await session.scalar(select(Device).where(Device.device_id == "iphone-1"))
        pixel = await session.scalar(select(Device).where(Device.device_id == "pixel-2"))
    assert iphone is not None
    assert iphone.token_disabled_at is not None
    assert pixel is not None
    assert pixel.token_disabled_at is None


async def test_no_provider_body_reaches_an_error_message(world: World) -> None:
    """What a provider (or whatever answers at a brand's URL) says in its body is never shown:
    a delivery's errorMessage carries the status and a known reason only."""
    w, b = world, world.brand
    marker = "MARKER-7f3a"
    w.apns.script(IOS_TOKEN, f"reason:{marker} call the help desk")
    w.fcm.script(ANDROID_TOKEN, f"invalid_argument:{marker}: your field is wrong")
    w.proxy.script(PROXY_TOKEN, f"answer:400:{marker} internal stack trace")

    deliveries = await _settled(w, await _campaign(b, await _handoff(b), "alice", "bob", "carol"))

    assert {c: (d.status, d.error_code, d.error_message) for c, d in deliveries.items()} == {
        "alice": ("FAILED", "PROVIDER_REJECTED", "HTTP 400"),
        "bob": ("FAILED", "PROVIDER_REJECTED", "INVALID_ARGUMENT: FCM answered 400"),
        "carol": ("FAILED", "PROVIDER_REJECTED", "push proxy answered 400"),
    }
    async with w.container.db.read() as session:
        events = await session.execute(select(Delivery.error_message))
        assert all(marker not in (m or "") for m in events.scalars())
