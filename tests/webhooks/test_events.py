"""Every change a brand subscribed to reaches its receiver, signed: a campaign's delivery from
SENT to its conversation's close, and the conversation's own events, through the real API,
dispatcher and relay (the sandbox channel stands in for the push provider)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from parlay.delivery.models import DeliveryEvent
from tests.conversations.support import Desk
from tests.fakes.webhooks import WebhookReceiver
from tests.outbound.support import eventually
from tests.webhooks.conftest import subscribe

pytestmark = pytest.mark.anyio


async def _recorded_event_ids(desk: Desk) -> set[str]:
    async with desk.brand.container.db.read() as session:
        rows = await session.execute(
            select(DeliveryEvent.delivery_id, DeliveryEvent.sequence).where(
                DeliveryEvent.account_id == desk.brand.id
            )
        )
        return {f"evt_d{d}_{s}" for d, s in rows.all()}


async def test_every_delivery_and_conversation_event_arrives_signed_with_the_full_state(
    desk: Desk, receiver: WebhookReceiver
) -> None:
    await subscribe(desk.brand, receiver, "delivery.*", "conversation.*")
    billing, general = await desk.agent("billing"), await desk.agent("general")
    await billing.state("ONLINE")
    await general.state("ONLINE")
    await desk.register("alice")
    delivery = await desk.campaign_push("alice")
    for kind in ("received", "tapped"):
        assert (await desk.sdk.receipt(str(delivery.id), kind, "alice")).status_code == 200
    conversation = await desk.says("alice", "Is my bill right?")
    assert (await billing.reply(conversation, "Let me look.")).status_code == 201
    assert (await billing.transfer(conversation, "general")).status_code == 200
    assert (await general.close(conversation)).status_code == 200
    await desk.outbound.run_until_done()  # the agent's message, pushed

    written = await _recorded_event_ids(desk)
    await eventually(
        lambda: _ids(receiver),
        lambda got: written <= got and len(receiver.of_type("conversation.")) >= 5,
        what="every event at the receiver",
    )

    assert receiver.refusals == []
    ours = [e for e in receiver.of_type("delivery.") if e["data"]["deliveryId"] == delivery.id]
    assert sorted({e["type"] for e in ours}) == [
        "delivery.conversation_closed",
        "delivery.delivered",
        "delivery.read",
        "delivery.replied",
        "delivery.sent",
    ]
    for event in ours:
        change = int(re.fullmatch(r"evt_d\d+_(\d+)", event["id"]).group(1))  # type: ignore[union-attr]
        data = event["data"]
        # The state when sent: this change or a later one, never an earlier one.
        assert data["sequence"] >= change
        assert event["accountId"] == desk.brand.id
        assert data["proactiveCampaignId"] == delivery.campaign_id
        assert data["consumerId"] == "alice"
        assert data["sentTime"] is not None
    assert max(e["data"]["sequence"] for e in ours) == 5
    final = max(ours, key=lambda e: e["data"]["sequence"])["data"]
    assert (final["status"], final["conversationId"]) == ("REPLIED", conversation)
    assert final["conversationClosedTime"] is not None

    conversation_events = [
        (e["type"], e["data"].get("message", {}).get("sender"))
        for e in receiver.of_type("conversation.")
    ]
    assert sorted(conversation_events, key=str) == sorted(
        [
            ("conversation.created", "consumer"),
            ("conversation.message", "consumer"),
            ("conversation.message", "agent"),
            ("conversation.transferred", None),
            ("conversation.closed", None),
        ],
        key=str,
    )
    closed = receiver.of_type("conversation.closed")[0]["data"]
    assert (closed["conversationId"], closed["state"], closed["skill"]) == (
        conversation,
        "CLOSED",
        "general",
    )


async def _ids(receiver: WebhookReceiver) -> set[str]:
    return set(receiver.ids())
