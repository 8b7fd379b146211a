"""IVR invites jump the queue: an invite made while a 20,000-consumer campaign is
dispatching reaches the provider before the campaign's remaining deliveries.

The dispatcher runs in-process on the sandbox channel, which takes a few milliseconds per send so
that the campaign is still going when the invite comes. The invite goes to WhatsApp (no device
needed). Were it queued behind the campaign, some 18,000 campaign sends would come first; in
the priority lane it follows at most the campaign sends that were already in flight.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from parlay.channels.sandbox import SandboxChannel, SandboxSend
from parlay.delivery.status import DeliveryStatus
from tests.handoffs.bodies import sms_channel, wa_channel
from tests.outbound.support import SF_MOBILE, SF_MOBILE_2, Outbound, eventually, sms, wa

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CONSUMERS = 20_000
# Campaign sends that may still come between the invite's response and its own send: those
# already in flight (the wa lane sends 64 at a time; the campaign lanes start nothing new while an
# invite is on its way), with room for a slow machine. Behind the campaign's claimed batch it
# would wait for up to 1,000 (two batches of 500); at the back of the queue, for all ~18,000 left.
SENDS_AHEAD_BOUND = 250


@pytest.fixture
def sandbox() -> SandboxChannel:
    """Each send takes 2 ms, so that 20,000 take a few seconds, not a blink."""
    return SandboxChannel(delay_seconds=0.002)


async def next_send(sends: asyncio.Queue[SandboxSend], delivery_id: int) -> SandboxSend:
    async with asyncio.timeout(15):
        while True:
            send = await sends.get()
            if send.delivery_id == delivery_id:
                return send


async def test_an_invite_is_sent_before_the_rest_of_a_running_campaign(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(wa_channel())
    sends = outbound.sandbox.listen()
    outbound.start()
    campaign = await outbound.campaign(handoff_id, [wa(f"+1415{n:07d}") for n in range(CONSUMERS)])
    campaign_id = campaign["proactiveCampaignId"]
    assert campaign["acceptedCount"] == CONSUMERS
    await eventually(
        lambda: asyncio.sleep(0, len(outbound.sandbox.sent)),
        lambda n: n >= 1_000,
        what="the campaign to be sending",
    )

    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)
    assert call["recommendedChannelName"] == "wa"
    response = await outbound.invite(call["callId"])
    sent_when_invited = len(outbound.sandbox.sent)
    assert response.status_code == 200, response.text
    invite = response.json()
    assert (invite["status"], invite["channel"]) == ("QUEUED", "wa")
    invite_send = await next_send(sends, int(invite["deliveryId"]))
    still_queued = len(await outbound.deliveries(campaign_id=campaign_id, status="QUEUED"))

    position = outbound.sandbox.sent.index(invite_send)
    assert invite_send.backend_service == "c2m"
    # Counted after the invite's send, so at that send at least this many were still queued.
    assert still_queued > 0, "the campaign had finished: the invite overtook nothing"
    ahead = position - sent_when_invited
    print(f"\ninvite sent {ahead} sends after it was queued; {still_queued} campaign left")
    assert ahead <= SENDS_AHEAD_BOUND
    # The invite is recorded like any other delivery.
    await eventually(
        lambda: outbound.delivery(id=int(invite["deliveryId"])),
        lambda d: d.status == DeliveryStatus.SENT,
        what="the invite to be recorded SENT",
    )


async def test_quiet_hours_hold_a_campaign_sms_but_not_an_invite(outbound: Outbound) -> None:
    """22:00 in San Francisco: a campaign's SMS waits for the morning, while an SMS invite, the
    answer to the consumer's own call that eligibility said could go now, is sent at once."""
    handoff_id = await outbound.handoff(sms_channel())
    outbound.advance(timedelta(hours=13))  # 17:00 UTC + 13 h = 22:00 in San Francisco
    outbound.start()
    await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)])

    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)
    assert call["availableChannels"] == ["sms"]
    invite = (await outbound.invite(call["callId"])).json()
    await outbound.settle()

    assert (await outbound.delivery(id=int(invite["deliveryId"]))).status == "SENT"
    assert (await outbound.delivery(phone=SF_MOBILE_2)).status == "SCHEDULED"
    assert [s.address for s in outbound.sandbox.sent] == [SF_MOBILE]


async def test_a_dispatcher_of_the_priority_lane_alone_sends_invites_and_leaves_campaigns(
    outbound: Outbound,
) -> None:
    """What ``parlay api`` runs: the invites it queues go out from it; campaigns wait for a
    worker."""
    handoff_id = await outbound.handoff(sms_channel())
    outbound.container.start_invite_sender()
    await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)])

    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)
    invite = (await outbound.invite(call["callId"])).json()
    await eventually(
        lambda: outbound.delivery(id=int(invite["deliveryId"])),
        lambda delivery: delivery.status == "SENT",
        what="the invite sent",
    )

    assert (await outbound.delivery(phone=SF_MOBILE_2)).status == "QUEUED"
    assert [s.address for s in outbound.sandbox.sent] == [SF_MOBILE]
