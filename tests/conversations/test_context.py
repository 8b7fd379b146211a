"""The context an agent sees — campaign, consumer, conversation — and the outbound
messages, for a proactive in-app conversation and for an IVR deflection; and the send-time checks'
OPEN_CONVERSATION through the real APIs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conversations.support import Desk
from tests.outbound.support import SF_MOBILE

pytestmark = pytest.mark.anyio

SDES = [{"type": "personal", "personal": {"firstname": "Ana"}}]


def iso(moment: Any) -> str:
    return str(moment.isoformat()).replace("+00:00", "Z")


async def test_a_proactive_in_app_conversation_shows_its_campaign_device_and_message(
    desk: Desk,
) -> None:
    agent = await desk.agent("billing")
    await agent.state("ONLINE")
    await desk.register("ana", osVersion="18.2", deviceModel="iPhone16,2", country="US", city="SF")
    delivery = await desk.campaign_push(
        "ana", campaignName="January renewals", message={"text": "Renew now and save 20%"}
    )
    desk.advance(minutes=3)
    conversation_id = await desk.says("ana", "How do I renew?")

    view = await agent.get(conversation_id)

    assert view["context"] == {
        "campaign": {
            "campaignName": "January renewals",
            "engagementName": "Billing deflection",
            "skill": "billing",
            "source": "PROACTIVE",
            "campaignId": delivery.campaign_id,
            "callId": None,
            "handoffId": delivery.handoff_id,
            "deliveryId": str(delivery.id),
        },
        "consumer": {
            "consumerId": "ana",
            "phone": None,
            "deviceId": "device-ana",
            "deviceOs": "iOS 18.2",
            "device": "iPhone16,2",
            "appId": "com.acme.app",
            "country": "US",
            "city": "SF",
            "ivrNumber": None,
            "sdes": None,
        },
        "conversation": {
            "startTime": iso(desk.outbound.now()),
            "conversationId": conversation_id,
            "channel": "inapp",
        },
    }
    assert view["outboundMessages"] == [
        {
            "deliveryId": str(delivery.id),
            "channel": "inapp",
            "text": "Renew now and save 20%",
            "source": "PROACTIVE",
            "campaignName": "January renewals",
            "skill": "billing",
            "status": "REPLIED",
            "sentTime": iso(delivery.sent_time),
            "startedConversation": True,
        }
    ]
    assert [(m["sender"], m["text"]) for m in view["messages"]] == [
        ("outbound", "Renew now and save 20%"),
        ("consumer", "How do I renew?"),
    ]
    assert (view["assignedAgent"], view["state"], view["source"]) == (
        agent.user_id,
        "OPEN",
        "PROACTIVE",
    )


async def test_an_ivr_conversation_shows_the_call_its_sdes_and_ivr_number(desk: Desk) -> None:
    agent = await desk.agent("billing")
    await agent.state("ONLINE")
    await desk.register("ana", pushToken="ab" * 32)
    delivery = await desk.invite_push("ana", SF_MOBILE, ivrNumber="+18005550199", sdes=SDES)
    conversation_id = await desk.says("ana", "I was on hold")

    context = (await agent.get(conversation_id))["context"]

    assert context["campaign"] == {
        "campaignName": None,
        "engagementName": "Billing deflection",
        "skill": "billing",
        "source": "IVR_DEFLECTION",
        "campaignId": None,
        "callId": delivery.call_id,
        "handoffId": delivery.handoff_id,
        "deliveryId": str(delivery.id),
    }
    assert context["consumer"] == {
        "consumerId": "ana",
        "phone": SF_MOBILE,
        "deviceId": "device-ana",
        "deviceOs": "iOS 18.2",
        "device": "iPhone16,2",
        "appId": "com.acme.app",
        "country": "US",
        "city": "San Francisco",
        "ivrNumber": "+18005550199",
        "sdes": SDES,
    }
    assert context["conversation"]["channel"] == "inapp"


async def test_the_agent_sees_the_consumers_last_five_other_outbound_messages(
    desk: Desk,
) -> None:
    agent = await desk.agent("billing")
    await agent.state("ONLINE")
    await desk.register("ana")
    sent = []
    for i in range(7):
        sent.append(await desk.campaign_push("ana", campaignName=f"Campaign {i}"))
        desk.advance(hours=1)
    conversation_id = await desk.says("ana", "hi")

    shown = (await agent.get(conversation_id))["outboundMessages"]

    # The one that started it, then the five most recent others, newest first.
    assert [m["campaignName"] for m in shown] == [
        "Campaign 6",
        "Campaign 5",
        "Campaign 4",
        "Campaign 3",
        "Campaign 2",
        "Campaign 1",
    ]
    assert [m["startedConversation"] for m in shown] == [True] + [False] * 5


async def test_the_device_the_consumer_names_is_the_one_shown(desk: Desk) -> None:
    agent = await desk.agent("general")
    await desk.settings(defaultSkill="general")
    await agent.state("ONLINE")
    await desk.sdk.register("phone", "ana", pushToken="01" * 32, osVersion="17.0")
    await desk.sdk.register("tablet", "ana", pushToken="02" * 32, osVersion="18.1")
    conversation_id = await desk.says("ana", "hi", deviceId="phone")
    consumer = (await agent.get(conversation_id))["context"]["consumer"]
    assert (consumer["deviceId"], consumer["deviceOs"]) == ("phone", "iOS 17.0")


async def test_an_invite_to_a_consumer_in_a_conversation_answers_open_conversation(
    desk: Desk,
) -> None:
    await desk.register("ana")
    await desk.settings(defaultSkill="general")
    await desk.says("ana", "I already wrote to you")  # through the consumer API
    handoff_id = await desk.handoff()
    call = await desk.outbound.eligible(
        handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE, consumerId="ana"
    )
    assert call["eligible"] is False
    assert call["ineligibleChannels"] == [{"channel": "inapp", "reason": "OPEN_CONVERSATION"}]
    response = await desk.outbound.invite(call["callId"])
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["reason"]) == (
        "NOT_SENT",
        "OPEN_CONVERSATION",
    )


async def test_a_campaign_to_a_consumer_in_a_conversation_fails_open_conversation(
    desk: Desk,
) -> None:
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    await desk.settings(defaultSkill="general")
    await desk.register("ana")
    await desk.register("bo")
    conversation_id = await desk.says("ana", "hello")
    handoff_id = await desk.handoff()

    body = await desk.outbound.campaign(
        handoff_id, [{"consumerContent": {"inapp": "ana"}}, {"consumerContent": {"inapp": "bo"}}]
    )
    await desk.outbound.run_until_done()

    rows = {
        d.consumer_id: d
        for d in await desk.outbound.deliveries(campaign_id=body["proactiveCampaignId"])
    }
    assert (rows["ana"].status, rows["ana"].error_code) == ("FAILED", "OPEN_CONVERSATION")
    assert rows["bo"].status == "SENT"
    # Once the conversation is closed, the next campaign reaches her.
    assert (await agent.close(conversation_id)).status_code == 200
    again = await desk.outbound.campaign(handoff_id, [{"consumerContent": {"inapp": "ana"}}])
    await desk.outbound.run_until_done()
    assert (await desk.outbound.delivery(campaign_id=again["proactiveCampaignId"])).status == "SENT"
