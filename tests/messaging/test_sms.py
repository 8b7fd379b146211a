"""SMS through Twilio, end to end: a campaign reaches the Twilio fake as the exact form, its
status callbacks move the delivery forward and never back, inbound replies are routed like any
consumer's and the agent's answer goes out as SMS, STOP and START, quiet hours, forged webhooks."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from parlay.conversations.models import Conversation
from parlay.delivery.models import DeliveryEvent
from parlay.delivery.status import DeliveryStatus, ErrorCode, Source
from tests.fakes.twilio import twilio_signature
from tests.messaging.conftest import (
    AUTH_TOKEN,
    NY_MOBILE,
    SENDER,
    SF_MOBILE,
    SYDNEY_MOBILE,
    World,
    until,
)

pytestmark = pytest.mark.anyio
S = DeliveryStatus
# Rules that do not depend on the database run on SQLite only (the suite's time budget).
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TEXT = "Your January bill is ready: reply here with any question."
SMS = {"type": "sms", "messageText": TEXT, "outboundNumber": SENDER}
BAD_NUMBER = "+14155550100"


def sms(phone: str) -> dict[str, object]:
    return {"consumerContent": {"sms": phone}}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_callbacks_move_an_sms_forward_only_and_undelivered_fails_it_with_the_code(
    world: World,
) -> None:
    w = world
    w.twilio.script(NY_MOBILE, "lifecycle:delivered,sent")  # out of order
    w.twilio.script(SF_MOBILE, "lifecycle:sent,undelivered/30006")
    w.twilio.script(BAD_NUMBER, "error:21211")
    campaign = await w.campaign(
        await w.handoff(SMS), sms(NY_MOBILE), sms(SF_MOBILE), sms(BAD_NUMBER)
    )
    rows = {d.phone: d for d in await w.settled(campaign_id=campaign)}

    sent = {m.form["To"]: m for m in w.twilio.sent}
    ny = rows[NY_MOBILE]
    assert sent[NY_MOBILE].form == {
        "To": NY_MOBILE,
        "From": SENDER,
        "Body": TEXT,
        "StatusCallback": f"http://parlay.test/webhooks/twilio/acme/status?deliveryId={ny.id}",
        "ValidityPeriod": "36000",  # the lookback (30 days) beyond Twilio's maximum
    }
    # "delivered" came first; the "sent" after it changed nothing.
    assert (ny.status, ny.provider_message_id) == (S.DELIVERED, sent[NY_MOBILE].sid)
    assert [answer for _, answer in sent[NY_MOBILE].callbacks] == [204, 204]
    sf = rows[SF_MOBILE]
    assert (sf.status, sf.error_code, sf.error_message, sf.error_source) == (
        S.FAILED,
        ErrorCode.PROVIDER_REJECTED,
        "30006",
        "twilio",
    )
    assert sf.sent_time is not None
    bad = rows[BAD_NUMBER]
    assert (bad.status, bad.error_code, bad.error_message) == (
        S.FAILED,
        ErrorCode.INVALID_NUMBER,
        "Twilio error 21211",
    )
    async with w.container.db.read() as session:
        kinds = (
            await session.scalars(
                select(DeliveryEvent.kind)
                .where(DeliveryEvent.delivery_id == ny.id)
                .order_by(DeliveryEvent.sequence)
            )
        ).all()
    assert list(kinds) in (["SENT", "DELIVERED"], ["DELIVERED"])  # never back to SENT


@SQLITE
async def test_forged_and_unsigned_twilio_webhooks_are_refused_counted_and_change_nothing(
    world: World,
) -> None:
    w = world
    w.twilio.lifecycle = ()  # no callbacks of its own
    campaign = await w.campaign(await w.handoff(SMS), sms(NY_MOBILE))
    [delivery] = await w.settled(campaign_id=campaign)
    url = f"{w.webhooks}/twilio/acme/status?deliveryId={delivery.id}"
    params = {"MessageSid": delivery.provider_message_id or "", "MessageStatus": "delivered"}
    forged = twilio_signature("not-the-auth-token-of-the-brand!", url, params)
    assert await w.twilio.post_signed(url, params, signature=forged) == 403
    assert await w.twilio.post_signed(url, params, signature="") == 403
    inbound = f"{w.webhooks}/twilio/acme/inbound"
    stop = {"From": NY_MOBILE, "Body": "STOP", "MessageSid": "SM1"}
    assert await w.twilio.post_signed(inbound, stop, signature=forged) == 403
    [after] = await w.deliveries(id=delivery.id)
    assert (after.status, after.version) == (S.SENT, delivery.version)
    metrics = w.container.metrics.webhooks_refused.labels("twilio")._value.get()
    assert metrics == 3
    # The signature covers the URL: the same parameters signed for another delivery's URL fail.
    other = url.replace(f"deliveryId={delivery.id}", "deliveryId=999")
    moved = twilio_signature(AUTH_TOKEN, other, params)
    assert await w.twilio.post_signed(url, params, signature=moved) == 403


@SQLITE
async def test_stop_opts_the_number_out_without_asking_twilio_and_start_opts_it_back_in(
    world: World,
) -> None:
    w = world
    inbound = f"{w.webhooks}/twilio/acme/inbound"
    answer = await w.twilio.inbound(inbound, NY_MOBILE, SENDER, " stop ")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Response></Response>" in answer.text
    handoff = await w.handoff(SMS)
    [skipped] = await w.settled(campaign_id=await w.campaign(handoff, sms(NY_MOBILE)))
    assert (skipped.status, skipped.error_code) == (S.SKIPPED, ErrorCode.OPTED_OUT)
    assert w.twilio.requests == []

    await w.twilio.inbound(inbound, NY_MOBILE, SENDER, "START")
    [sent] = await w.settled(campaign_id=await w.campaign(handoff, sms(NY_MOBILE)))
    assert sent.status == S.DELIVERED
    # Twilio's own record of an unsubscribed number (21610) opts it out here too.
    w.twilio.script(SF_MOBILE, "error:21610")
    [refused] = await w.settled(campaign_id=await w.campaign(handoff, sms(SF_MOBILE)))
    assert (refused.status, refused.error_code) == (S.SKIPPED, ErrorCode.OPTED_OUT)
    [again] = await w.settled(campaign_id=await w.campaign(handoff, sms(SF_MOBILE)))
    assert (again.error_code, again.error_source) == (ErrorCode.OPTED_OUT, "parlay")
    assert len(w.twilio.requests) == 2


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_an_sms_reply_goes_to_the_campaigns_skill_and_the_agents_answer_goes_out_as_sms(
    world: World,
) -> None:
    w = world
    agent = await w.agent("billing")
    await w.brand.client.put(
        f"{w.brand.url}/settings", headers=w.brand.admin, json={"defaultSkill": "general"}
    )
    campaign = await w.campaign(await w.handoff(SMS, skill="billing"), sms(NY_MOBILE))
    [delivery] = await w.settled(campaign_id=campaign)
    answer = await w.twilio.inbound(
        f"{w.webhooks}/twilio/acme/inbound", NY_MOBILE, SENDER, "How much?"
    )
    assert answer.status_code == 200, answer.text
    [replied] = await w.deliveries(id=delivery.id)
    assert replied.status == S.REPLIED
    async with w.container.db.read() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.phone == NY_MOBILE)
        )
    assert conversation is not None
    assert (conversation.channel, conversation.skill, conversation.delivery_id) == (
        "sms",
        "billing",
        delivery.id,
    )

    reply = await w.brand.client.post(
        f"{w.brand.url}/agent/conversations/{conversation.id}/messages",
        headers=agent,
        json={"text": "It is 42 €."},
    )
    assert reply.status_code == 201, reply.text
    [pushed] = await w.settled(source=Source.CONVERSATION)
    assert (pushed.channel, pushed.phone, pushed.status) == ("sms", NY_MOBILE, S.DELIVERED)
    last = w.twilio.sent[-1].form
    assert (last["To"], last["From"], last["Body"]) == (NY_MOBILE, SENDER, "It is 42 €.")
    assert dict(parse_qsl(urlsplit(last["StatusCallback"]).query)) == {"deliveryId": str(pushed.id)}


@SQLITE
async def test_campaign_sms_waits_for_the_recipients_daytime(world: World) -> None:
    w = world
    campaign = await w.campaign(await w.handoff(SMS), sms(SYDNEY_MOBILE))
    [held] = await until(
        lambda: w.deliveries(campaign_id=campaign), lambda rows: rows[0].status == S.SCHEDULED
    )
    assert held.status == S.SCHEDULED
    assert w.twilio.requests == []
