"""The routing rule, one test per case: a consumer's first message opens a conversation
routed by their most recent outbound message, or to the default skill when none applies."""

from __future__ import annotations

import pytest

from parlay.delivery.status import DeliveryStatus
from tests.conversations.support import Desk

pytestmark = pytest.mark.anyio

WELCOME = "Welcome to Acme! An agent will be with you shortly."


@pytest.fixture
async def welcoming(desk: Desk) -> Desk:
    """The account routes unattributed conversations to 'general' with a welcome message."""
    await desk.settings(defaultSkill="general", welcomeMessage={"enabled": True, "text": WELCOME})
    return desk


async def test_a_reply_within_the_lookback_goes_to_the_campaigns_skill_after_its_message(
    welcoming: Desk,
) -> None:
    desk = welcoming
    await desk.register("ana")
    delivery = await desk.campaign_push(
        "ana", skill="billing", message={"text": "Your bill is ready"}
    )
    desk.advance(hours=2)

    conversation_id = await desk.says("ana", "Why is it so high?")

    conversation = await desk.conversation(conversation_id)
    assert (conversation.skill, conversation.delivery_id, conversation.source) == (
        "billing",
        delivery.id,
        "PROACTIVE",
    )
    replied = await desk.delivery(delivery.id)
    assert replied.status == DeliveryStatus.REPLIED
    assert replied.conversation_id == conversation_id
    assert replied.conversation_created_time == desk.outbound.now()
    view = (await desk.consumer_view("ana")).json()
    # The outbound message is the first message; no welcome message follows.
    assert [(m["sender"], m["text"]) for m in view["messages"]] == [
        ("outbound", "Your bill is ready"),
        ("consumer", "Why is it so high?"),
    ]


async def test_the_campaigns_skill_wins_over_the_handoffs(welcoming: Desk) -> None:
    await welcoming.register("ana")
    # The handoff says 'billing'; the campaign names 'general'.
    await welcoming.campaign_push("ana", skill="general")
    conversation = await welcoming.conversation(await welcoming.says("ana", "hello"))
    assert conversation.skill == "general"
    assert conversation.source == "PROACTIVE"


async def test_after_the_lookback_the_conversation_goes_to_the_default_skill_with_a_welcome(
    welcoming: Desk,
) -> None:
    desk = welcoming
    await desk.register("ana")
    delivery = await desk.campaign_push("ana", handoff={"lookbackPeriodDay": 1})
    desk.advance(days=1, seconds=1)

    conversation = await desk.conversation(await desk.says("ana", "hello?"))

    assert (conversation.skill, conversation.delivery_id, conversation.source) == (
        "general",
        None,
        None,
    )
    assert (await desk.delivery(delivery.id)).status == DeliveryStatus.SENT
    messages = (await desk.consumer_view("ana")).json()["messages"]
    assert [(m["sender"], m["text"]) for m in messages] == [
        ("consumer", "hello?"),
        ("system", WELCOME),
    ]


async def test_just_inside_the_lookback_still_counts(welcoming: Desk) -> None:
    await welcoming.register("ana")
    await welcoming.campaign_push("ana", handoff={"lookbackPeriodDay": 1})
    welcoming.advance(days=1, seconds=-1)
    conversation = await welcoming.conversation(await welcoming.says("ana", "hi"))
    assert conversation.skill == "billing"


async def test_after_the_attributed_conversation_closed_the_next_one_is_unattributed(
    welcoming: Desk,
) -> None:
    desk = welcoming
    agent = await desk.agent("billing")
    await agent.state("ONLINE")
    await desk.register("ana")
    delivery = await desk.campaign_push("ana")
    first = await desk.says("ana", "hi")
    assert (await agent.close(first)).status_code == 200
    assert (await desk.delivery(delivery.id)).conversation_closed_time == desk.outbound.now()

    desk.advance(minutes=5)
    second = await desk.conversation(await desk.says("ana", "one more thing"))

    assert second.id != first
    assert (second.skill, second.delivery_id) == ("general", None)
    messages = (await desk.consumer_view("ana")).json()["messages"]
    assert [m["sender"] for m in messages] == ["consumer", "system"]


async def test_with_no_delivery_at_all_the_default_skill_takes_it(welcoming: Desk) -> None:
    conversation = await welcoming.conversation(await welcoming.says("nobody-pushed-me", "hi"))
    assert (conversation.skill, conversation.delivery_id, conversation.context) == (
        "general",
        None,
        {
            "campaign": None,
            "consumer": {
                "consumerId": "nobody-pushed-me",
                "phone": None,
                "deviceId": None,
                "deviceOs": None,
                "device": None,
                "appId": None,
                "country": None,
                "city": None,
                "ivrNumber": None,
                "sdes": None,
            },
        },
    )


async def test_of_two_deliveries_the_most_recent_decides(welcoming: Desk) -> None:
    desk = welcoming
    await desk.register("ana")
    older = await desk.campaign_push("ana", skill="general", campaignName="Older")
    desk.advance(minutes=10)
    newer = await desk.campaign_push("ana", skill="billing", campaignName="Newer")

    conversation = await desk.conversation(await desk.says("ana", "hi"))

    assert (conversation.skill, conversation.delivery_id) == ("billing", newer.id)
    assert (await desk.delivery(older.id)).status == DeliveryStatus.SENT
    assert (await desk.delivery(newer.id)).status == DeliveryStatus.REPLIED


async def test_the_most_recent_delivery_decides_even_when_its_lookback_is_over(
    welcoming: Desk,
) -> None:
    """An older delivery with a longer lookback does not take over from the most recent one."""
    desk = welcoming
    await desk.register("ana")
    await desk.campaign_push("ana", skill="general", handoff={"lookbackPeriodDay": 30})
    desk.advance(minutes=10)
    await desk.campaign_push(
        "ana", skill="billing", handoff={"lookbackPeriodDay": 0, "lookbackPeriodHour": 1}
    )
    desk.advance(hours=2)
    conversation = await desk.conversation(await desk.says("ana", "hi"))
    assert (conversation.skill, conversation.delivery_id) == ("general", None)


async def test_without_a_welcome_message_none_is_sent(desk: Desk) -> None:
    await desk.settings(defaultSkill="general", welcomeMessage={"enabled": False, "text": WELCOME})
    await desk.says("ana", "hi")
    messages = (await desk.consumer_view("ana")).json()["messages"]
    assert [m["sender"] for m in messages] == ["consumer"]


async def test_later_messages_join_the_open_conversation(welcoming: Desk) -> None:
    await welcoming.register("ana")
    await welcoming.campaign_push("ana")
    first = await welcoming.says("ana", "hi")
    welcoming.advance(minutes=1)
    assert await welcoming.says("ana", "are you there?") == first
    messages = (await welcoming.consumer_view("ana")).json()["messages"]
    assert [m["text"] for m in messages][1:] == ["hi", "are you there?"]
    assert len(await welcoming.conversations()) == 1


async def test_route_all_within_lookback_off_attributes_only_opened_pushes(
    welcoming: Desk,
) -> None:
    desk = welcoming
    await desk.register("ana")
    await desk.register("bo")
    untapped = await desk.campaign_push("ana", handoff={"routeAllWithinLookback": False})
    tapped = await desk.campaign_push("bo", handoff={"routeAllWithinLookback": False})
    assert (await desk.sdk.receipt(str(tapped.id), "tapped", sub="bo")).status_code == 200

    ana = await desk.conversation(await desk.says("ana", "hi"))
    bo = await desk.conversation(await desk.says("bo", "hi"))

    assert (ana.skill, ana.delivery_id) == ("general", None)
    assert (bo.skill, bo.delivery_id) == ("billing", tapped.id)
    assert (await desk.delivery(untapped.id)).status == DeliveryStatus.SENT


async def test_a_consumer_sees_no_other_consumers_conversation(welcoming: Desk) -> None:
    await welcoming.says("ana", "my secret")
    response = await welcoming.consumer_view("bo")
    assert response.status_code == 404
    assert response.json()["errorCode"] == 1004


async def test_text_that_is_not_text_and_emoji_is_refused(desk: Desk) -> None:
    for bad in ("", "   ", "a" * 1001, "bell\x07"):
        response = await desk.write("ana", bad)
        assert response.status_code == 400, bad
        assert response.json()["errorCode"] == 1000
    assert await desk.conversations() == []


async def test_an_unknown_device_is_refused(desk: Desk) -> None:
    response = await desk.write("ana", "hi", deviceId="not-mine")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "deviceId"
