"""Agents' and bots' messages as pushes (backendService ``ams``), through the agent API, the
consumer API and the dispatcher on the sandbox channel: the device's logout type decides, a
stream names only the consumer's own device, and such a push is never an outbound message
(pending-outbound, a campaign's results, an invite, a conversation's attribution)."""

from __future__ import annotations

import pytest

from tests.conftest import problem
from tests.conversations.support import Desk
from tests.outbound.support import SF_MOBILE

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("logout", "sender", "pushed"),
    [
        ("ALL", "human", False),
        ("AGENT", "human", False),
        ("AGENT", "bot", False),
        ("NONE", "human", True),
    ],
    ids=["ALL-agent", "AGENT-agent", "AGENT-bot", "NONE-agent"],
)
async def test_a_logged_out_device_is_pushed_an_agents_or_bots_reply_only_with_logout_type_none(
    desk: Desk, logout: str, sender: str, pushed: bool
) -> None:
    """ALL: no push at all; AGENT: outbound pushes only, none from an agent or a bot (a bot
    speaks for the brand's agents); NONE: every push."""
    await desk.settings(defaultSkill="general")
    await desk.register("ana")
    assert (await desk.sdk.logout("device-ana", logout, sub="ana")).status_code == 200
    agent = await desk.agent("general", type=sender)
    await agent.state("ONLINE")
    conversation_id = await desk.says("ana", "hello")

    assert (await agent.reply(conversation_id, "Hi Ana")).status_code == 201
    await desk.outbound.settle()

    push = await desk.outbound.delivery(source="CONVERSATION")
    sent = [(s.address, s.text) for s in desk.outbound.sandbox.sent if s.backend_service == "ams"]
    if pushed:
        assert push.status == "SENT"
        assert sent == [("ana", "Hi Ana")]
    else:
        assert (push.status, push.error_code) == ("FAILED", "LOGGED_OUT_PUSH_DISABLED")
        assert sent == []


async def test_a_live_stream_names_only_a_registered_device_of_its_own_consumer(
    desk: Desk,
) -> None:
    await desk.register("ana")
    await desk.register("bo")
    for device_id in ("device-bo", "no-such-device"):
        refused = await desk.brand.client.get(
            f"{desk.sdk.url}/events",
            params={"deviceId": device_id},
            headers=desk.sdk.headers("ana"),
        )
        assert refused.status_code == 400
        assert problem(refused)["errors"][0]["field"] == "deviceId"
    mine = await desk.brand.client.get(
        f"{desk.sdk.url}/events", params={"deviceId": "device-ana"}, headers=desk.sdk.headers("ana")
    )
    assert mine.status_code == 200


async def test_an_agents_push_is_no_outbound_message_pending_counted_or_answered(
    desk: Desk,
) -> None:
    """The agent's push is sent after a campaign's, yet pending-outbound, the campaign's
    results, the agent's outboundMessages and attribution see the campaign's alone; an invite
    answers with its own delivery. Only the agent's message is pushed, not the consumer's or
    the welcome message."""
    await desk.settings(
        defaultSkill="general", welcomeMessage={"enabled": True, "text": "An agent is on the way."}
    )
    await desk.register("ana")
    agent = await desk.agent("general", "billing")  # billing: the campaign's skill
    await agent.state("ONLINE")
    outbound = await desk.campaign_push("ana", handoff={"routeAllWithinLookback": False})
    first = await desk.says("ana", "What is this?")  # the push was not opened: unattributed
    assert (await desk.conversation(first)).delivery_id is None

    desk.advance(minutes=1)
    assert (await agent.reply(first, "Your renewal, Ana")).status_code == 201
    await desk.outbound.settle()
    (push,) = await desk.outbound.deliveries(source="CONVERSATION")
    assert (push.status, push.conversation_id) == ("SENT", first)
    assert outbound.sent_time is not None
    assert push.sent_time == desk.outbound.now() > outbound.sent_time  # the most recent push

    assert [m["pushMessageId"] for m in await desk.sdk.pending("ana")] == [str(outbound.id)]
    campaign_id = str(outbound.campaign_id)
    assert (await desk.outbound.get_campaign(campaign_id))["counts"] == {"SENT": 1}
    recipients = await desk.brand.client.get(
        f"{desk.outbound.campaigns_url}/{campaign_id}/conversations",
        headers=desk.outbound.proactive,
    )
    assert [r["id"] for r in recipients.json()["conversations"]] == [str(outbound.id)]

    # The consumer opens the campaign's push and writes again: the campaign's message, not the
    # agent's later push, is the outbound message this conversation answers.
    assert (await agent.close(first)).status_code == 200
    tapped = await desk.sdk.receipt(str(outbound.id), "tapped", sub="ana")
    assert tapped.status_code == 200, tapped.text
    second = await desk.says("ana", "I opened it")
    assert (await desk.conversation(second)).delivery_id == outbound.id
    view = await agent.get(second)
    assert [m["deliveryId"] for m in view["outboundMessages"]] == [str(outbound.id)]

    assert (await agent.close(second)).status_code == 200
    invite = await desk.invite_push("ana", SF_MOBILE)
    assert invite.source == "IVR_DEFLECTION"
    assert [m["pushMessageId"] for m in await desk.sdk.pending("ana")] == [str(invite.id)]
