"""WhatsApp through the Cloud API, end to end: the handoff's template outside the 24-hour window
and text inside it, statuses and inbound messages verified by signature, the webhook handshake,
agents' answers inside the window only, and SMS standing in when WhatsApp cannot deliver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from parlay.conversations.models import Conversation
from parlay.delivery.status import DeliveryStatus, ErrorCode, Source
from tests.fakes.whatsapp import meta_signature
from tests.messaging.conftest import NY_MOBILE, SENDER, WA_VERIFY, World

pytestmark = pytest.mark.anyio
S = DeliveryStatus
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
WA = {
    "type": "wa",
    "templateName": "bill_ready",
    "templateLanguage": "en_US",
    "templateVariables": 2,
}
NY_DIGITS = NY_MOBILE.removeprefix("+")


def wa(phone: str) -> dict[str, object]:
    return {"consumerContent": {"wa": phone}, "variables": {"2": "42 €", "1": "Ann"}}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_template_outside_the_window_text_inside_it_and_no_answer_once_it_closed(
    world: World,
) -> None:
    w = world
    agent = await w.agent("billing")
    campaign = await w.campaign(await w.handoff(WA), wa(NY_MOBILE))
    [delivery] = await w.settled(campaign_id=campaign)
    template = w.whatsapp.sent[0].body
    assert template == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": NY_DIGITS,
        "biz_opaque_callback_data": str(delivery.id),
        "type": "template",
        "template": {
            "name": "bill_ready",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ann"},
                        {"type": "text", "text": "42 €"},
                    ],
                }
            ],
        },
    }
    assert (delivery.status, delivery.provider_message_id) == (S.READ, w.whatsapp.sent[0].wamid)

    answer = await w.whatsapp.inbound(NY_MOBILE, "Why so much?")  # opens the window
    assert answer.status_code == 200, answer.text
    [replied] = await w.deliveries(id=delivery.id)
    assert replied.status == S.REPLIED
    async with w.container.db.read() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.phone == NY_MOBILE)
        )
    assert conversation is not None
    assert (conversation.channel, conversation.skill) == ("wa", "billing")
    url = f"{w.brand.url}/agent/conversations/{conversation.id}/messages"
    reply = await w.brand.client.post(url, headers=agent, json={"text": "Heating, mostly."})
    assert reply.status_code == 201, reply.text
    [text] = await w.settled(source=Source.CONVERSATION)
    assert text.status == S.READ
    assert w.whatsapp.sent[-1].body["text"] == {"preview_url": False, "body": "Heating, mostly."}

    w.clock.advance(timedelta(hours=24, seconds=1))
    agent = w.brand.auth(await w.brand.login("ann"))  # the day-old token expired
    closed = await w.brand.client.post(url, headers=agent, json={"text": "Anything else?"})
    assert closed.status_code == 409
    assert closed.json()["reason"] == "WHATSAPP_WINDOW_CLOSED"
    assert len(await w.deliveries(source=Source.CONVERSATION)) == 1


@SQLITE
async def test_the_handshake_answers_the_verify_token_and_forged_notifications_are_refused(
    world: World,
) -> None:
    w = world
    ok = await w.whatsapp.handshake(WA_VERIFY, challenge="1158201444")
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert (await w.whatsapp.handshake("a-guess")).status_code == 403
    forged = meta_signature("another-app-secret", b"{}")
    refused = await w.whatsapp.post_signed({"entry": []}, signature=forged)
    assert refused.status_code == 403
    unsigned = await w.whatsapp.post_signed({"entry": []}, signature="")
    assert unsigned.status_code == 403
    assert w.container.metrics.webhooks_refused.labels("whatsapp")._value.get() == 3
    # A forged inbound message opens no conversation.
    w.whatsapp.app_secret = "another-app-secret"
    assert (await w.whatsapp.inbound(NY_MOBILE, "hi")).status_code == 403
    async with w.container.db.read() as session:
        assert await session.scalar(select(Conversation.id)) is None


@SQLITE
async def test_a_message_whatsapp_cannot_deliver_goes_out_once_as_sms(world: World) -> None:
    w = world
    w.whatsapp.undeliverable.add(NY_DIGITS)
    sms = {"type": "sms", "messageText": "Your bill is ready.", "outboundNumber": SENDER}
    campaign = await w.campaign(await w.handoff(WA, sms), wa(NY_MOBILE))
    rows = await w.settled(campaign_id=campaign)
    rows = await w.settled(campaign_id=campaign)  # the fallback, queued by the status webhook
    first, fallback = rows
    assert (first.channel, first.status, first.error_message) == ("wa", S.FAILED, "131026")
    assert first.error_code == ErrorCode.PROVIDER_REJECTED
    assert (fallback.channel, fallback.fallback_of, fallback.phone) == ("sms", first.id, NY_MOBILE)
    assert fallback.status == S.DELIVERED
    assert first.superseded_by == fallback.id
    assert [m.form["To"] for m in w.twilio.sent] == [NY_MOBILE]
    view = await w.brand.client.get(
        f"/api/v2/account/{w.brand.id}/campaign/{campaign}", headers=w.brand.admin
    )
    assert view.json()["counts"] == {"DELIVERED": 1}  # the consumer, once
