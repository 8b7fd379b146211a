"""The C2M API: eligibility of a caller per channel, then the invite."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from parlay.apps import devices
from parlay.c2m.models import Call
from parlay.consumers.models import Consumer
from tests.conftest import problem
from tests.handoffs.bodies import inapp_channel, sms_channel, wa_channel
from tests.outbound.support import (
    SF_MOBILE,
    SF_MOBILE_2,
    START,
    UK_LANDLINE,
    Outbound,
    eventually,
    wa,
)

pytestmark = pytest.mark.anyio


def assert_refused(response: httpx.Response, field: str | None, error_code: int) -> None:
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["errorCode"] == error_code
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body


def channels_of(result: dict[str, Any]) -> tuple[list[str], str, dict[str, str]]:
    reasons = {i["channel"]: i["reason"] for i in result["ineligibleChannels"]}
    return result["availableChannels"], result["recommendedChannelName"], reasons


# --- the eligibility request ---------------------------------------------------------------------


async def test_the_api_version_must_be_2_0(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    call_id = (await outbound.eligible(handoffId=handoff_id))["callId"]
    body = {"skill": "billing", "consumerPhoneNumber": SF_MOBILE, "handoffId": handoff_id}
    for query in ("?v=1.0", "?v=2", "?v=", ""):
        url = f"{outbound.brand.url}/eligibility{query}"
        response = await outbound.client.post(url, json=body, headers=outbound.c2m)
        assert_refused(response, None, 1002)
        url = f"{outbound.brand.url}/invite{query}"
        response = await outbound.client.post(url, json={"callId": call_id}, headers=outbound.c2m)
        assert_refused(response, None, 1002)
    assert await outbound.deliveries() == []


async def test_the_skill_must_exist(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    response = await outbound.eligibility(handoffId=handoff_id, skill="no-such-skill")
    assert_refused(response, "skill", 1300)


async def test_the_consumer_phone_number_must_be_e164_shaped(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    for number in (
        "041555526",  # a country code never starts with 0
        "+141555",  # too short for any number
        "+1 415 555 267111111",  # more than 15 digits
        "+1415abc2671",
        "+0415555267",
        "tel:+14155552671",
        "+1" + "4" * 64,  # far too long
        "",
    ):
        response = await outbound.eligibility(handoffId=handoff_id, consumerPhoneNumber=number)
        assert_refused(response, "consumerPhoneNumber", 1001)
    # Written with the usual separators, or without '+' as in LivePerson's examples, a number
    # is accepted (and stored as E.164).
    for written in ("+1 (415) 555-2671", SF_MOBILE[1:]):
        call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=written)
        async with outbound.container.db.read() as session:
            stored = await session.get(Call, call["callId"])
        assert stored is not None
        assert stored.consumer_phone == SF_MOBILE


async def test_a_well_formed_number_that_cannot_take_sms_makes_sms_ineligible(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel(), wa_channel())
    # Too short for the North American plan: E.164-shaped, but no SMS can reach it.
    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber="+1415555267")
    assert call["ineligibleChannels"] == [{"channel": "sms", "reason": "INVALID_NUMBER"}]
    assert call["availableChannels"] == ["wa"]


async def test_what_a_call_keeps_for_the_agent_is_bounded(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    big_sdes = [{"type": "ctmrinfo", "info": {"notes": "x" * 4000}} for _ in range(9)]
    many_variables = {f"v{i}": "x" for i in range(101)}
    for field, value in (
        ("sdes", big_sdes),  # 9 × 4 KB: over 32 KiB as JSON
        ("sdes", [{"type": "ctmrinfo"}] * 51),
        ("templateVariables", many_variables),
        ("templateVariables", {"name": "x" * 1551}),
        ("templateVariables", {"": "x"}),
    ):
        response = await outbound.eligibility(handoffId=handoff_id, **{field: value})
        assert response.status_code == 400, (field, response.text)
        assert problem(response)["errors"][0]["field"].startswith(field)
    assert (await outbound.eligibility(handoffId=handoff_id, sdes=big_sdes[:7])).status_code == 200


async def test_the_handoff_must_exist(outbound: Outbound) -> None:
    response = await outbound.eligibility(handoffId="H12345")
    assert_refused(response, "handoffId", 1500)


async def test_consumer_id_is_required_for_an_inapp_handoff(outbound: Outbound) -> None:
    inapp_handoff = await outbound.handoff(inapp_channel())
    assert_refused(await outbound.eligibility(handoffId=inapp_handoff), "consumerId", 1000)
    sms_handoff = await outbound.handoff(sms_channel())
    assert (await outbound.eligibility(handoffId=sms_handoff)).status_code == 200


# --- eligibility per channel ---------------------------------------------------------------------


async def test_inapp_is_available_to_a_logged_in_consumer_with_a_push_token(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(inapp_channel())
    await outbound.device("c-1")
    result = await outbound.eligible(handoffId=handoff_id, consumerId="c-1")
    assert result["eligible"] is True
    assert channels_of(result) == (["inapp"], "inapp", {})
    assert set(result) == {
        "callId",
        "eligible",
        "availableChannels",
        "recommendedChannelName",
        "ineligibleChannels",
    }


async def _never_logged_in(outbound: Outbound) -> dict[str, Any]:
    return {}


async def _no_token(outbound: Outbound) -> dict[str, Any]:
    await outbound.device("c-1", token=None)
    await outbound.device("c-1", app_id="com.other.app")  # a token, but for another app
    return {}


async def _disabled_token(outbound: Outbound) -> dict[str, Any]:
    token = await outbound.device("c-1")
    async with outbound.container.db.write() as session:
        await devices.disable_tokens(session, outbound.brand.id, [token], outbound.now())
    return {}


async def _logged_in_push_disabled(outbound: Outbound) -> dict[str, Any]:
    await outbound.device("c-1", logged_in=True)
    return {"pushWhenLoggedIn": False}


async def _logged_out_push_disabled(outbound: Outbound) -> dict[str, Any]:
    await outbound.device("c-1", logged_in=False, logout_mode="NONE")
    return {}  # pushWhenLoggedOut defaults to false


async def _logged_out_all(outbound: Outbound) -> dict[str, Any]:
    await outbound.device("c-1", logged_in=False, logout_mode="ALL")
    return {"pushWhenLoggedOut": True}  # the consumer's logout mode refuses every push


async def _open_conversation(outbound: Outbound) -> dict[str, Any]:
    await outbound.device("c-1")
    await outbound.open_conversation(consumer_id="c-1", channel="inapp")
    return {}


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        (_never_logged_in, "NEVER_LOGGED_IN"),
        (_no_token, "NO_PUSH_TOKEN"),
        (_disabled_token, "NO_PUSH_TOKEN"),
        (_logged_in_push_disabled, "LOGGED_IN_PUSH_DISABLED"),
        (_logged_out_push_disabled, "LOGGED_OUT_PUSH_DISABLED"),
        (_logged_out_all, "LOGGED_OUT_PUSH_DISABLED"),
        (_open_conversation, "OPEN_CONVERSATION"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__.strip("_"),
)
async def test_inapp_ineligibility_says_why(outbound: Outbound, arrange: Any, reason: str) -> None:
    handoff_fields = await arrange(outbound)
    handoff_id = await outbound.handoff(inapp_channel(), **handoff_fields)
    result = await outbound.eligible(handoffId=handoff_id, consumerId="c-1")
    assert result["eligible"] is False
    assert channels_of(result) == ([], "", {"inapp": reason})


async def test_a_logged_out_device_is_pushed_when_the_handoff_and_logout_mode_allow(
    outbound: Outbound,
) -> None:
    await outbound.device("c-1", logged_in=False, logout_mode="AGENT")
    handoff_id = await outbound.handoff(inapp_channel(), pushWhenLoggedOut=True)
    result = await outbound.eligible(handoffId=handoff_id, consumerId="c-1")
    assert channels_of(result) == (["inapp"], "inapp", {})


async def test_sms_and_wa_are_available_in_the_handoffs_order(outbound: Outbound) -> None:
    sms_first = await outbound.handoff(sms_channel(), wa_channel())
    wa_first = await outbound.handoff(wa_channel(), sms_channel())
    assert channels_of(await outbound.eligible(handoffId=sms_first)) == (["sms", "wa"], "sms", {})
    assert channels_of(await outbound.eligible(handoffId=wa_first)) == (["wa", "sms"], "wa", {})


@pytest.mark.parametrize(
    ("phone", "opted_out", "reason"),
    [(UK_LANDLINE, False, "INVALID_NUMBER"), (SF_MOBILE, True, "OPTED_OUT")],
    ids=["landline", "opted-out"],
)
async def test_sms_ineligibility_says_why_and_wa_is_still_offered(
    outbound: Outbound, phone: str, opted_out: bool, reason: str
) -> None:
    if opted_out:
        await outbound.opt_out(phone)
    handoff_id = await outbound.handoff(sms_channel(), wa_channel())
    result = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=phone)
    # WhatsApp gives no way to check a number: it is always reported available.
    assert channels_of(result) == (["wa"], "wa", {"sms": reason})
    assert result["eligible"] is True


async def test_an_open_conversation_makes_every_channel_ineligible(outbound: Outbound) -> None:
    await outbound.open_conversation(phone=SF_MOBILE, channel="wa")
    handoff_id = await outbound.handoff(sms_channel(), wa_channel())
    result = await outbound.eligible(handoffId=handoff_id)
    assert result["eligible"] is False
    assert channels_of(result) == (
        [],
        "",
        {"sms": "OPEN_CONVERSATION", "wa": "OPEN_CONVERSATION"},
    )


async def test_a_consumer_id_and_phone_named_together_are_linked(outbound: Outbound) -> None:
    await outbound.device("c-1")
    await outbound.open_conversation(phone=SF_MOBILE, channel="sms")
    handoff_id = await outbound.handoff(inapp_channel())
    # The call names both identities: the open SMS thread of that phone is this consumer's.
    result = await outbound.eligible(handoffId=handoff_id, consumerId="c-1")
    assert channels_of(result) == ([], "", {"inapp": "OPEN_CONVERSATION"})


@pytest.mark.parametrize(
    ("known", "call", "after"),
    [
        ([], ("c-1", SF_MOBILE), [("c-1", SF_MOBILE)]),
        ([], (None, SF_MOBILE), [(None, SF_MOBILE)]),
        ([("c-1", None)], ("c-1", SF_MOBILE), [("c-1", SF_MOBILE)]),
        ([(None, SF_MOBILE)], ("c-1", SF_MOBILE), [("c-1", SF_MOBILE)]),
        ([(None, SF_MOBILE)], (None, SF_MOBILE), [(None, SF_MOBILE)]),
        ([("c-1", SF_MOBILE_2)], ("c-1", SF_MOBILE), [("c-1", SF_MOBILE_2)]),
        ([("c-2", SF_MOBILE)], ("c-1", SF_MOBILE), [("c-2", SF_MOBILE)]),
        (
            [("c-1", None), ("c-2", SF_MOBILE)],
            ("c-1", SF_MOBILE),
            [("c-1", None), ("c-2", SF_MOBILE)],
        ),
    ],
    ids=[
        "new-caller",
        "new-number",
        "id-takes-number",
        "number-takes-id",
        "number-known",
        "id-keeps-its-number",
        "number-keeps-its-consumer",
        "both-known-apart",
    ],
)
async def test_a_call_links_the_identities_it_names_and_never_moves_a_number(
    outbound: Outbound,
    known: list[tuple[str | None, str | None]],
    call: tuple[str | None, str],
    after: list[tuple[str | None, str | None]],
) -> None:
    for consumer_id, phone in known:
        await outbound.consumer(consumer_id, phone, logged_in=False)
    handoff_id = await outbound.handoff(sms_channel())
    consumer_id, phone = call
    named = {"consumerId": consumer_id} if consumer_id else {}
    await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=phone, **named)
    async with outbound.container.db.read() as session:
        rows = (await session.execute(select(Consumer.consumer_id, Consumer.phone))).all()
    assert sorted(rows, key=str) == sorted(after, key=str)


async def test_concurrent_calls_about_one_new_caller_all_answer(outbound: Outbound) -> None:
    # An IVR retrying on a timeout: the same caller, several eligibility checks at once.
    handoff_id = await outbound.handoff(inapp_channel())
    await outbound.device("c-1")
    responses = await asyncio.gather(
        *(outbound.eligibility(handoffId=handoff_id, consumerId="c-1") for _ in range(6)),
        *(
            outbound.eligibility(handoffId=handoff_id, consumerId="c-2", consumerPhoneNumber=p)
            for p in (SF_MOBILE_2, SF_MOBILE_2, SF_MOBILE_2)
        ),
    )
    assert [r.status_code for r in responses] == [200] * 9
    async with outbound.container.db.read() as session:
        rows = (await session.execute(select(Consumer.consumer_id, Consumer.phone))).all()
    assert sorted(rows) == [("c-1", SF_MOBILE), ("c-2", SF_MOBILE_2)]


async def test_each_of_many_callers_checked_at_once_gets_a_stored_call_and_its_link(
    outbound: Outbound,
) -> None:
    # Their calls are written together: each answer comes once its own call is stored.
    handoff_id = await outbound.handoff(sms_channel())
    phones = [f"+1415555{n:04d}" for n in range(3000, 3012)]
    answers = await asyncio.gather(
        *(
            outbound.eligible(handoffId=handoff_id, consumerId=f"c-{n}", consumerPhoneNumber=p)
            for n, p in enumerate(phones)
        )
    )
    async with outbound.container.db.read() as session:
        calls = (await session.execute(select(Call.id, Call.consumer_phone))).all()
        rows = (await session.execute(select(Consumer.consumer_id, Consumer.phone))).all()
    assert sorted(calls) == sorted((a["callId"], p) for a, p in zip(answers, phones, strict=True))
    assert sorted(rows) == sorted((f"c-{n}", p) for n, p in enumerate(phones))
    for answer in answers:
        assert (await outbound.invite(answer["callId"])).status_code == 200


# --- the call ----------------------------------------------------------------------------------


async def test_the_call_is_kept_for_the_invite_until_the_lookback_ends(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel(), lookbackPeriodDay=0, lookbackPeriodHour=2)
    sdes = [{"type": "ctmrinfo", "info": {"customerId": "A-17"}}]
    kept = await outbound.eligible(
        handoffId=handoff_id,
        ivrNumber="+18005550199",
        templateVariables={"1": "Ann"},
        sdes=sdes,
    )
    expired = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber="+12025550123")
    async with outbound.container.db.read() as session:
        call = await session.get(Call, kept["callId"])
    assert call is not None
    assert (call.ivr_number, call.template_variables, call.sdes) == (
        "+18005550199",
        {"1": "Ann"},
        sdes,
    )
    assert (call.skill, call.consumer_phone, call.handoff_id) == ("billing", SF_MOBILE, handoff_id)
    assert call.expires_at == START + timedelta(hours=2)
    outbound.advance(timedelta(hours=2) - timedelta(seconds=1))
    assert (await outbound.invite(kept["callId"])).status_code == 200
    outbound.advance(timedelta(seconds=1))
    assert_refused(await outbound.invite(expired["callId"]), "callId", 1000)


async def test_an_invite_names_a_call_of_this_account(outbound: Outbound) -> None:
    assert_refused(await outbound.invite("6f1c1d7e-0000-4000-8000-000000000000"), "callId", 1000)


# --- the invite --------------------------------------------------------------------------------


async def test_the_invite_is_sent_on_the_recommended_channel_by_the_dispatcher(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(wa_channel(), sms_channel(messageText="Text us here"))
    await outbound.opt_out(SF_MOBILE)  # sms is out, wa is recommended
    call = await outbound.eligible(handoffId=handoff_id)
    assert call["recommendedChannelName"] == "wa"
    outbound.start()
    response = await outbound.invite(call["callId"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["callId"], body["channel"], body["status"]) == (call["callId"], "wa", "QUEUED")
    await outbound.settle()
    delivery = await outbound.delivery(id=int(body["deliveryId"]))
    assert (delivery.status, delivery.source, delivery.priority) == ("SENT", "IVR_DEFLECTION", 0)
    assert (delivery.channel, delivery.phone, delivery.skill) == ("wa", SF_MOBILE, "billing")
    [sent] = outbound.sandbox.sent
    assert (sent.channel, sent.address, sent.backend_service) == ("wa", SF_MOBILE, "c2m")


async def test_the_inapp_invite_is_pushed_to_the_consumer(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(inapp_channel(messageText="Tap to chat"))
    await outbound.device("c-1")
    call = await outbound.eligible(handoffId=handoff_id, consumerId="c-1")
    outbound.start()
    body = (await outbound.invite(call["callId"])).json()
    assert (body["channel"], body["status"]) == ("inapp", "QUEUED")
    await outbound.settle()
    [sent] = outbound.sandbox.sent
    assert (sent.address, sent.text, sent.backend_service) == ("c-1", "Tap to chat", "c2m")


async def test_override_channel_twilio_means_sms(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(wa_channel(), sms_channel())
    call = await outbound.eligible(handoffId=handoff_id)
    assert call["recommendedChannelName"] == "wa"
    outbound.start()
    body = (await outbound.invite(call["callId"], overrideChannel="twilio")).json()
    assert (body["channel"], body["status"]) == ("sms", "QUEUED")
    await outbound.settle()
    assert [(s.channel, s.address) for s in outbound.sandbox.sent] == [("sms", SF_MOBILE)]


@pytest.mark.parametrize(
    ("channels", "phone", "override"),
    [
        ([sms_channel()], SF_MOBILE, "wa"),  # not a channel of the handoff
        ([sms_channel(), wa_channel()], UK_LANDLINE, "sms"),  # ineligible: INVALID_NUMBER
        ([sms_channel(), wa_channel()], UK_LANDLINE, "twilio"),
    ],
    ids=["not-in-handoff", "ineligible", "ineligible-twilio"],
)
async def test_an_override_channel_that_is_not_available_is_1900(
    outbound: Outbound, channels: list[dict[str, Any]], phone: str, override: str
) -> None:
    handoff_id = await outbound.handoff(*channels)
    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=phone)
    response = await outbound.invite(call["callId"], overrideChannel=override)
    assert_refused(response, None, 1900)
    assert await outbound.deliveries() == []
    # The call is still there for a valid invite.
    assert (await outbound.invite(call["callId"])).status_code == 200


async def test_an_override_skill_must_exist(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    call = await outbound.eligible(handoffId=handoff_id)
    response = await outbound.invite(call["callId"], overrideSkill="no-such-skill")
    assert_refused(response, None, 1901)
    body = (await outbound.invite(call["callId"], overrideSkill="general")).json()
    assert (await outbound.delivery(id=int(body["deliveryId"]))).skill == "general"


async def test_an_override_message_follows_the_text_rule(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    call = await outbound.eligible(handoffId=handoff_id)
    for text in ("", "bell \x07", "cafe\u0301", "x" * 1601, {"type": "card"}, ["Hi"]):
        response = await outbound.invite(call["callId"], overrideMessage=text)
        assert_refused(response, "overrideMessage", 1000)
    assert await outbound.deliveries() == []
    # Up to 1,600 characters on SMS; 1,000 on the other channels.
    inapp_handoff = await outbound.handoff(inapp_channel())
    inapp_call = await outbound.eligible(handoffId=inapp_handoff, consumerId="c-1")
    response = await outbound.invite(inapp_call["callId"], overrideMessage="x" * 1001)
    assert_refused(response, "overrideMessage", 1000)
    assert (await outbound.invite(call["callId"], overrideMessage="x" * 1600)).status_code == 200


async def test_an_override_message_is_the_text_sent(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel(messageText="Default"))
    call = await outbound.eligible(handoffId=handoff_id)
    outbound.start()
    await outbound.invite(call["callId"], overrideMessage="Reply here to skip the queue 👋")
    await outbound.settle()
    assert [s.text for s in outbound.sandbox.sent] == ["Reply here to skip the queue 👋"]


async def test_an_invite_to_a_consumer_in_an_open_conversation_says_not_sent(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    call = await outbound.eligible(handoffId=handoff_id)
    await outbound.open_conversation(phone=SF_MOBILE)  # opened between eligibility and invite
    outbound.start()
    response = await outbound.invite(call["callId"])
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["reason"], body["channel"]) == (
        "NOT_SENT",
        "OPEN_CONVERSATION",
        "sms",
    )
    # The attempt is recorded for reporting, and nothing reaches the provider.
    delivery = await outbound.delivery(id=int(body["deliveryId"]))
    assert (delivery.status, delivery.error_code, delivery.failed_time) == (
        "FAILED",
        "OPEN_CONVERSATION",
        START,
    )
    assert delivery.source == "IVR_DEFLECTION"
    await outbound.settle()
    assert outbound.sandbox.sent == []


async def test_an_invite_that_cannot_be_sent_for_another_reason_says_which(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(inapp_channel())
    call = await outbound.eligible(handoffId=handoff_id, consumerId="c-unknown")
    assert call["ineligibleChannels"] == [{"channel": "inapp", "reason": "NEVER_LOGGED_IN"}]
    body = (await outbound.invite(call["callId"])).json()
    assert (body["status"], body["reason"], body["channel"]) == (
        "NOT_SENT",
        "NEVER_LOGGED_IN",
        "inapp",
    )
    delivery = await outbound.delivery(id=int(body["deliveryId"]))
    assert (delivery.status, delivery.error_code) == ("FAILED", "NEVER_LOGGED_IN")


async def test_a_repeated_invite_on_a_call_returns_the_first_answer_and_sends_nothing(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel(), wa_channel())
    call = await outbound.eligible(handoffId=handoff_id)
    first = await outbound.invite(call["callId"])
    assert first.status_code == 200
    assert (await outbound.invite(call["callId"])).json() == first.json()
    assert (await outbound.invite(call["callId"], overrideChannel="wa")).json() == first.json()
    assert len(await outbound.deliveries()) == 1
    # A double submit: invites on one call at the same moment still send once, and all answer
    # the same.
    other = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE_2)
    responses = await asyncio.gather(*(outbound.invite(other["callId"]) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.text for r in responses}) == 1
    assert len(await outbound.deliveries(call_id=other["callId"])) == 1


async def test_a_repeated_invite_with_the_same_idempotency_key_replays_the_first_answer(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    call = await outbound.eligible(handoffId=handoff_id)
    key = {"Idempotency-Key": f"invite-{call['callId']}"}
    first = await outbound.invite(call["callId"], key)
    again = await outbound.invite(call["callId"], key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(await outbound.deliveries()) == 1
    other = await outbound.invite(call["callId"], key, overrideMessage="Something else")
    assert other.status_code == 409
    assert problem(other)["errorCode"] == 1030


# A slow provider and a narrow lane: the campaign takes seconds to drain.
@pytest.mark.dispatch(worker_concurrency_wa=2)
async def test_an_invite_jumps_the_queue_of_a_running_campaign(outbound: Outbound) -> None:
    outbound.sandbox.delay_seconds = 0.005
    campaign_handoff = await outbound.handoff(wa_channel())
    await outbound.campaign(campaign_handoff, [wa(f"+4915{n:09d}") for n in range(1000)])
    invite_handoff = await outbound.handoff(wa_channel())
    call = await outbound.eligible(handoffId=invite_handoff, consumerPhoneNumber=SF_MOBILE)
    outbound.start()
    await eventually(
        lambda: asyncio.sleep(0, len(outbound.sandbox.sent)), lambda n: n >= 10, what="sends"
    )
    await outbound.invite(call["callId"])

    async def invite_sent() -> int | None:
        await asyncio.sleep(0)
        return next(
            (i for i, s in enumerate(outbound.sandbox.sent) if s.backend_service == "c2m"), None
        )

    position = await eventually(invite_sent, lambda i: i is not None, what="the invite")
    assert position is not None
    # Sent within a few campaign sends of being asked for, not after the campaign's backlog.
    assert position < 100, position
