"""LivePerson drop-in: requests written as LivePerson's published C2M 2.0 and Proactive 2.0
examples are served unchanged, and the answers carry every field their clients read.

The bodies below are LivePerson's examples with only the account, handoff and skill filled in:
numbers without '+', the legacy consumer form, ``headerVariables``, ``schedulingMetrics``,
per-consumer SDEs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from parlay.conversations.context import consumer_context
from tests.conftest import Brand, problem
from tests.handoffs.bodies import inapp_channel, sms_channel, wa_channel
from tests.outbound.support import (
    NY_MOBILE,
    SF_MOBILE,
    SF_MOBILE_2,
    Outbound,
    campaign_body,
    sms,
    wa,
)

pytestmark = pytest.mark.anyio

SF = SF_MOBILE[1:]  # as LivePerson's examples write numbers: country code first, no '+'
SF_2 = SF_MOBILE_2[1:]
NY = NY_MOBILE[1:]


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in problem(response).get("errors", [])], response.text


def _accepted(body: dict[str, Any]) -> list[tuple[str | None, dict[str, str]]]:
    return [(a["phoneNumber"], a["consumerContent"]) for a in body["acceptedConsumers"]]


async def test_liveperson_eligibility_and_invite_examples_are_served(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel(), wa_channel())
    response = await outbound.client.post(
        f"{outbound.brand.url}/eligibility?v=2.0",
        json={
            "skill": "billing",
            "consumerPhoneNumber": SF,
            "handoffId": handoff_id,
            "ivrNumber": "18005550100",
            "templateVariables": {"1": "Ann"},
            "sdes": [{"type": "ctmrinfo", "info": {"customerId": "c-77", "ctype": "gold"}}],
        },
        headers=outbound.c2m,
    )
    assert response.status_code == 200, response.text
    call = response.json()
    assert uuid.UUID(call["callId"]).version == 4
    assert (call["eligible"], call["availableChannels"], call["recommendedChannelName"]) == (
        True,
        ["sms", "wa"],
        "sms",
    )
    invite = await outbound.client.post(
        f"{outbound.brand.url}/invite?v=2.0",
        json={"callId": call["callId"], "overrideChannel": "twilio"},
        headers=outbound.c2m,
    )
    assert invite.status_code == 200, invite.text
    assert (invite.json()["callId"], invite.json()["channel"]) == (call["callId"], "sms")


async def test_liveperson_campaign_examples_are_accepted_with_their_answer_shape(
    outbound: Outbound,
) -> None:
    sms_handoff = await outbound.handoff(sms_channel(messageText="Hi {{1}}"))
    both = await outbound.handoff(wa_channel(templateVariables=1), sms_channel())
    rich = await outbound.handoff(wa_channel(templateVariables=1))
    app = await outbound.handoff(inapp_channel())
    examples: list[tuple[dict[str, Any], list[tuple[str | None, dict[str, str]]]]] = [
        # SMS
        (
            campaign_body(
                sms_handoff,
                [{"consumerContent": {"sms": SF}, "variables": {"1": "Ann"}}],
                outboundNumber="14155550000",
            ),
            [(SF_MOBILE, {"sms": SF})],
        ),
        # SMS + WhatsApp: the handoff's order picks WhatsApp
        (
            campaign_body(
                both, [{"consumerContent": {"sms": SF, "wa": SF}, "variables": {"1": "Ann"}}]
            ),
            [(SF_MOBILE, {"sms": SF, "wa": SF})],
        ),
        # WhatsApp rich template: a media header per consumer
        (
            campaign_body(
                rich,
                [
                    {
                        "consumerContent": {"wa": SF},
                        "variables": {"1": "Ann"},
                        "headerVariables": {"image": "https://cdn.example.com/offer.jpg"},
                    }
                ],
            ),
            [(SF_MOBILE, {"wa": SF})],
        ),
        # in-app, with the consumer's SDEs
        (
            campaign_body(
                app,
                [{"consumerContent": {"inapp": "c-1"}, "ctmrinfo": {"customerId": "c-1"}}],
            ),
            [(None, {"inapp": "c-1"})],
        ),
        # the legacy form: a number on the handoff's phone channels
        (
            campaign_body(
                both,
                [
                    {
                        "consumerCountryCode": "1",
                        "consumerPhoneNumber": SF_2[1:],
                        "variables": {"1": "Bo"},
                    }
                ],
                schedulingMetrics={
                    "windows": [
                        {
                            "day": day,
                            "startTime": {"hour": 0, "minute": 0},
                            "endTime": {"hour": 24, "minute": 0},
                        }
                        for day in ("MONDAY", "tuesday")
                    ]
                },
            ),
            [(SF_MOBILE_2, {"wa": SF_2, "sms": SF_2})],
        ),
    ]
    for body, accepted in examples:
        response = await outbound.post_campaign(body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert _accepted(answer) == accepted, body
        assert (answer["acceptedCount"], answer["failedConsumers"]) == (1, [])
        assert answer["leCampaignId"] == answer["proactiveCampaignId"]
        assert answer["leEngagementId"].isdigit()
        assert answer["requestTraceId"]
    await outbound.device("c-1")
    outbound.start()
    await outbound.run_until_done()
    sent = {s.delivery_id: s for s in outbound.sandbox.sent}
    rich_row = next(d for d in await outbound.deliveries() if d.header_variables)
    template = sent[rich_row.id].template
    assert template is not None
    assert (template.variables, template.header) == (
        {"1": "Ann"},
        {"image": "https://cdn.example.com/offer.jpg"},
    )
    inapp_row = next(d for d in await outbound.deliveries() if d.channel == "inapp")
    assert inapp_row.sdes == [{"type": "ctmrinfo", "info": {"customerId": "c-1"}}]
    assert len(sent) == 5


def test_a_campaign_consumers_sdes_are_shown_to_the_agent() -> None:
    sdes = [{"type": "personal", "personal": {"firstname": "Ann"}}]
    assert consumer_context("c-1", None, None, None, sdes).to_json()["sdes"] == sdes


async def test_liveperson_per_consumer_errors_fail_that_consumer_only(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel(messageText="Hi {{1}}"))
    cases: list[tuple[dict[str, Any], str | None]] = [
        # a channel Parlay has not: fails unless another address reaches the consumer
        ({"consumerContent": {"apple": "abc"}}, "CHANNEL_NOT_SUPPORTED=apple"),
        ({"consumerContent": {"sms": SF}, "variables": {"1": 42}}, "VARIABLE_NOT_STRING=1"),
        ({"consumerContent": {"sms": SF}, "variables": {"1": "x"}}, None),
        ({"consumerContent": {"sms": SF_MOBILE}, "variables": {"1": "y"}}, "DUPLICATE_NUMBER"),
        ({"consumerContent": {"sms": "0415"}, "variables": {"1": "y"}}, "INVALID_NUMBER"),
        (
            {"consumerContent": {"apple": "abc", "sms": NY}, "variables": {"1": "z"}},
            None,
        ),
    ]
    answer = await outbound.campaign(handoff_id, [c for c, _ in cases])
    assert [f["errorMessage"] for f in answer["failedConsumers"]] == [
        e for _, e in cases if e is not None
    ]
    assert answer["acceptedCount"] == 2
    legacy = await outbound.campaign(
        handoff_id,
        [{"consumerCountryCode": "1", "consumerPhoneNumber": "04155", "variables": {"1": "x"}}],
    )
    assert legacy["failedConsumers"] == [
        {
            "consumerContent": {"sms": "104155"},
            "variables": {"1": "x"},
            "errorMessage": "INVALID_NUMBER",
            "phone": "04155",
            "countryCode": "1",
        }
    ]
    rich = await outbound.handoff(wa_channel())
    bad_media = await outbound.campaign(
        rich, [{"consumerContent": {"wa": SF}, "headerVariables": {"image": "http://x.test/a"}}]
    )
    assert [f["errorMessage"] for f in bad_media["failedConsumers"]] == [
        "HEADER_VARIABLE_INVALID_URL"
    ]


async def test_the_recipient_poll_says_finished_only_once_every_delivery_is_final(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    # Monday 09:00 in San Francisco; the window opens on Tuesday 10:00 there.
    window = {
        "day": "TUESDAY",
        "startTime": {"hour": 10, "minute": 0},
        "endTime": {"hour": 11, "minute": 0},
    }
    body = campaign_body(
        handoff_id, [sms(SF), sms(SF_MOBILE_2)], schedulingMetrics={"windows": [window]}
    )
    campaign_id = (await outbound.post_campaign(body)).json()["proactiveCampaignId"]
    url = f"{outbound.campaigns_url}/{campaign_id}/conversations"

    async def poll() -> dict[str, Any]:
        response = await outbound.client.get(url, headers=outbound.proactive)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    page = await poll()
    assert page["campaignStatus"] == "ACCEPTED"
    assert [(r["status"], r["deliveryStatus"]) for r in page["conversations"]] == [
        ("NOT_SENT", "QUEUED")
    ] * 2
    outbound.start()
    await outbound.settle()
    page = await poll()
    assert [(r["status"], r["deliveryStatus"]) for r in page["conversations"]] == [
        ("SCHEDULED", "SCHEDULED")
    ] * 2
    assert page["campaignStatus"] != "FINISHED"
    assert await outbound.next_due() == datetime(2026, 1, 6, 18, 0, tzinfo=UTC)  # 10:00 PST
    await outbound.run_until_done()
    campaign = await outbound.campaign_reaches(campaign_id, "FINISHED")
    assert campaign["counts"] == {"SENT": 2}
    page = await poll()
    assert page["campaignStatus"] == "FINISHED"
    assert [r["status"] for r in page["conversations"]] == ["DELIVERED"] * 2
    row = page["conversations"][0]
    assert {"id", "status", "conversationId", "errorMessage", "deliveryStatus"} <= row.keys()


async def test_the_recipient_poll_returns_up_to_1000_without_a_limit(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(wa_channel())
    numbers = [f"4915{n:09d}" for n in range(1001)]
    answer = (
        await outbound.post_campaign(
            campaign_body(handoff_id, [wa(n) for n in numbers]), {"Prefer": "return=minimal"}
        )
    ).json()
    assert "acceptedConsumers" not in answer
    url = f"{outbound.campaigns_url}/{answer['proactiveCampaignId']}/conversations"
    page = (await outbound.client.get(url, headers=outbound.proactive)).json()
    assert (len(page["conversations"]), page["nextCursor"] is not None) == (1000, True)


async def test_send_windows_must_be_weekdays_with_an_end_after_the_start(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    for window, field in [
        ({"day": "FUNDAY", "startTime": {"hour": 9}, "endTime": {"hour": 10}}, "day"),
        ({"day": "MONDAY", "startTime": {"hour": 10}, "endTime": {"hour": 9}}, "endTime"),
        ({"day": "MONDAY", "startTime": {"hour": 24}, "endTime": {"hour": 24}}, "startTime"),
    ]:
        body = campaign_body(handoff_id, [sms(SF)], schedulingMetrics={"windows": [window]})
        assert_refused(await outbound.post_campaign(body), f"schedulingMetrics.windows.0.{field}")


async def test_routes_take_a_trailing_slash_and_answer_liveperson_codes(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    response = await outbound.client.post(
        f"{outbound.campaigns_url}/",
        json=campaign_body(handoff_id, [sms(SF)]),
        headers=outbound.proactive,
    )
    assert response.status_code == 200, response.text
    wrong_method = await outbound.client.put(
        f"{outbound.brand.url}/eligibility?v=2.0", headers=outbound.c2m
    )
    assert (wrong_method.status_code, problem(wrong_method)["errorCode"]) == (405, 1005)
    form = await outbound.client.post(
        f"{outbound.brand.url}/eligibility?v=2.0",
        content=b"skill=billing",
        headers={**outbound.c2m, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (form.status_code, problem(form)["errorCode"]) == (415, 1015)


async def test_an_admin_may_give_a_handoff_the_id_it_had_at_liveperson(
    outbound: Outbound,
) -> None:
    body = {"name": "Moved", "skill": "billing", "channels": [sms_channel()]}
    url = f"{outbound.brand.url}/handoffs"
    made = await outbound.client.post(
        url, json={**body, "id": "H123456789012345"}, headers=outbound.brand.admin
    )
    assert (made.status_code, made.json()["id"]) == (201, "H123456789012345")
    again = await outbound.client.post(
        url, json={**body, "id": "H123456789012345"}, headers=outbound.brand.admin
    )
    assert again.status_code == 409
    manager = Brand.auth(await outbound.brand.user_token("campaign_manager"))
    assert (
        await outbound.client.post(url, json={**body, "id": "H1"}, headers=manager)
    ).status_code == 403
    assert_refused(
        await outbound.client.post(url, json={**body, "id": "X1"}, headers=outbound.brand.admin),
        "id",
    )
