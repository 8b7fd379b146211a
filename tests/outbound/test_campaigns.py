"""The Proactive API: one test per rule, through HTTP and a real dispatcher."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Brand, problem
from tests.handoffs.bodies import handoff, inapp_channel, sms_channel, wa_channel
from tests.outbound.support import (
    NY_MOBILE,
    SF_MOBILE,
    SF_MOBILE_2,
    START,
    UK_LANDLINE,
    Outbound,
    campaign_body,
    eventually,
    inapp,
    sms,
    wa,
)

pytestmark = pytest.mark.anyio

# A Sydney mobile: at the tests' start time (17:00 UTC) it is night in every Australian zone, so
# an SMS to it waits as SCHEDULED and keeps its campaign IN_PROGRESS.
SLEEPING_MOBILE = "+61412345678"
START_ISO = "2026-01-05T17:00:00Z"


def assert_refused(response: Any, field: str, error_code: int = 1000) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["errorCode"] == error_code
    assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def consumers_phones(consumers: list[dict[str, Any]]) -> list[str]:
    return [c["consumerContent"]["sms"] for c in consumers]


async def requeue(outbound: Outbound, campaign_id: str) -> Any:
    return await outbound.client.post(
        f"{outbound.campaigns_url}/{campaign_id}/retry-failed", headers=outbound.proactive
    )


async def cancel(outbound: Outbound, campaign_id: str) -> Any:
    return await outbound.client.post(
        f"{outbound.campaigns_url}/{campaign_id}/cancel", headers=outbound.proactive
    )


async def append(outbound: Outbound, campaign_id: str, consumers: list[dict[str, Any]]) -> Any:
    return await outbound.client.post(
        f"{outbound.campaigns_url}/{campaign_id}/consumers",
        json={"consumers": consumers},
        headers=outbound.proactive,
    )


async def recipients(outbound: Outbound, campaign_id: str, **params: Any) -> Any:
    return await outbound.client.get(
        f"{outbound.campaigns_url}/{campaign_id}/conversations",
        params=params,
        headers=outbound.proactive,
    )


# --- the request -----------------------------------------------------------------------------


async def test_consent_must_be_true(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    for consent in (False, "true", 1, None):
        body = campaign_body(handoff_id, [sms(SF_MOBILE)], consent=consent)
        assert_refused(await outbound.post_campaign(body), "consent")
    body = campaign_body(handoff_id, [sms(SF_MOBILE)])
    del body["consent"]
    assert_refused(await outbound.post_campaign(body), "consent")
    assert await outbound.deliveries() == []


@pytest.mark.parametrize("size", [0, 100_001])
async def test_a_campaign_names_1_to_100000_consumers(outbound: Outbound, size: int) -> None:
    handoff_id = await outbound.handoff(wa_channel())
    consumers = [wa(f"+4915{n:09d}") for n in range(size)]
    response = await outbound.post_campaign(campaign_body(handoff_id, consumers))
    assert_refused(response, "consumers")
    assert len(response.content) < 10_000  # the refusal does not echo 100,001 consumers back
    assert await outbound.deliveries() == []


async def test_the_handoff_named_by_template_id_must_exist(
    outbound: Outbound, other_brand: Brand
) -> None:
    response = await outbound.post_campaign(campaign_body("H404", [sms(SF_MOBILE)]))
    assert_refused(response, "templateId", error_code=1500)
    theirs = await other_brand.client.post(
        f"{other_brand.url}/handoffs", json=handoff(sms_channel()), headers=other_brand.admin
    )
    response = await outbound.post_campaign(campaign_body(theirs.json()["id"], [sms(SF_MOBILE)]))
    assert_refused(response, "templateId", error_code=1500)
    deleted = await outbound.handoff(sms_channel())
    await outbound.client.delete(
        f"{outbound.brand.url}/handoffs/{deleted}", headers=outbound.brand.admin
    )
    response = await outbound.post_campaign(campaign_body(deleted, [sms(SF_MOBILE)]))
    assert_refused(response, "templateId", error_code=1500)


async def test_the_skill_must_exist(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    response = await outbound.post_campaign(
        campaign_body(handoff_id, [sms(SF_MOBILE)], skill="no-such-skill")
    )
    assert_refused(response, "skill", error_code=1300)


REFUSED_MESSAGES = [
    ({"text": {"type": "vertical", "elements": []}}, "message.text"),  # structured content
    ({"text": ["Hi"]}, "message.text"),
    ({"text": 42}, "message.text"),
    ({"text": "Hi", "richContent": {"type": "card"}}, "message.richContent"),
    ({"text": "Hi", "mediaUrl": "https://cdn.example/a.png"}, "message.mediaUrl"),
    ({"text": ""}, "message.text"),
    ({"text": "   "}, "message.text"),
    ({"text": "bell \x07"}, "message.text"),
    ({"text": "carriage\rreturn"}, "message.text"),
    ({"text": "zero\x00"}, "message.text"),
    ({"text": "escape \x1b[31m"}, "message.text"),
    ({"text": "cafe\u0301"}, "message.text"),  # decomposed: not NFC
    ({"text": "x" * 1001}, "message.text"),
]


async def test_message_text_is_text_and_emoji_only(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    for message, field in REFUSED_MESSAGES:
        response = await outbound.post_campaign(
            campaign_body(handoff_id, [sms(SF_MOBILE)], message=message)
        )
        assert_refused(response, field)
    assert await outbound.deliveries() == []


async def test_text_and_emoji_up_to_1000_characters_is_accepted_as_written(
    outbound: Outbound,
) -> None:
    texts = ["x" * 1000, "Hi 👋🏽 — your bill is ready\n\tThanks!", "café", "🫨" * 1000]
    handoff_id = await outbound.handoff(sms_channel())
    phones = [f"+1415555{n:04d}" for n in range(len(texts))]
    for phone, text in zip(phones, texts, strict=True):
        await outbound.campaign(handoff_id, [sms(phone)], message={"text": text})
    outbound.start()
    await outbound.run_until_done()
    assert {s.address: s.text for s in outbound.sandbox.sent} == dict(
        zip(phones, texts, strict=True)
    )


async def test_the_text_comes_from_message_text_else_from_the_handoff_channel(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel(messageText="Your bill is ready"))
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)], message={"text": "Pay by Friday"})
    outbound.start()
    await outbound.run_until_done()
    texts = {s.address: s.text for s in outbound.sandbox.sent}
    assert texts == {SF_MOBILE: "Your bill is ready", SF_MOBILE_2: "Pay by Friday"}
    # A handoff channel without text needs message.text.
    silent = await outbound.handoff(sms_channel(messageText=None))
    response = await outbound.post_campaign(campaign_body(silent, [sms(SF_MOBILE)]))
    assert_refused(response, "message.text")


# --- per-consumer problems -----------------------------------------------------------------------


PER_CONSUMER_PROBLEMS = [
    # (handoff channels, a good consumer, a bad one, what failedConsumers says)
    # A country code never starts with 0 (what is not E.164-shaped is refused at once; a
    # well-formed number that cannot take an SMS fails at send time instead).
    ([sms_channel()], sms(SF_MOBILE), sms("04155552671"), "INVALID_NUMBER"),
    ([sms_channel()], sms(SF_MOBILE), sms("+1 (415) abc"), "INVALID_NUMBER"),
    # Only ASCII digits, the whole string: other scripts' digits and a trailing newline would
    # slip past duplicate detection.
    ([sms_channel()], sms(SF_MOBILE), sms("+141555526\u0667\u0661"), "INVALID_NUMBER"),
    ([sms_channel()], sms(SF_MOBILE), sms(SF_MOBILE_2 + "\n"), "INVALID_NUMBER"),
    ([sms_channel()], sms(SF_MOBILE), sms(SF_MOBILE), "DUPLICATE_NUMBER"),
    # The same number written without its '+' is the same number.
    ([sms_channel()], sms(SF_MOBILE), sms(SF_MOBILE[1:]), "DUPLICATE_NUMBER"),
    ([inapp_channel()], inapp("c-1"), inapp("c-1"), "DUPLICATE_CONSUMER"),
    (
        [sms_channel(), wa_channel()],
        wa(SF_MOBILE),
        inapp("c-1"),
        "MISSING_CONSUMER_INFORMATION=sms",
    ),
    ([inapp_channel()], inapp("c-1"), sms(SF_MOBILE), "MISSING_CONSUMER_INFORMATION=inapp"),
    ([sms_channel()], sms(SF_MOBILE), {"consumerContent": {}}, "MISSING_CONSUMER_INFORMATION=sms"),
    (
        [sms_channel(messageText="Hi {{1}}, pay {{2}}")],
        sms(SF_MOBILE, v1="Bob", v2="10 USD"),
        sms(SF_MOBILE_2, v1="Ann"),
        "MISSING_VARIABLE=2",
    ),
    (
        [sms_channel(messageText="Hi {{1}}")],
        sms(SF_MOBILE, v1="Bob"),
        sms(SF_MOBILE_2, v1="Ann", v2="extra"),
        "TOO_MANY_VARIABLES",
    ),
    (
        [wa_channel(templateVariables=2)],
        wa(SF_MOBILE, v1="Bob", v2="10 USD"),
        wa(SF_MOBILE_2, v2="x"),
        "MISSING_VARIABLE=1",
    ),
]


async def test_per_consumer_problems_are_listed_and_do_not_fail_the_request(
    outbound: Outbound,
) -> None:
    for channels, good, bad, error in PER_CONSUMER_PROBLEMS:
        handoff_id = await outbound.handoff(*channels)
        body = await outbound.campaign(handoff_id, [good, bad])
        assert body["acceptedCount"] == 1, error
        assert body["failedConsumers"] == [
            {
                "consumerContent": bad["consumerContent"],
                "variables": bad.get("variables"),
                "errorMessage": error,
            }
        ]
        assert len(await outbound.deliveries(campaign_id=body["proactiveCampaignId"])) == 1
    # Even when every consumer is refused, the request is accepted: as a FAILED campaign.
    handoff_id = await outbound.handoff(sms_channel())
    body = await outbound.campaign(handoff_id, [sms("+1"), {"consumerContent": {}}])
    assert (body["acceptedCount"], len(body["failedConsumers"])) == (0, 2)
    campaign = await outbound.get_campaign(body["proactiveCampaignId"])
    assert (campaign["campaignStatus"], campaign["counts"]) == ("FAILED", {})


async def test_the_number_an_inapp_consumer_also_gives_links_its_conversations(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(inapp_channel())
    await outbound.device("c-1")
    await outbound.device("c-2")
    await outbound.open_conversation(phone=SF_MOBILE, channel="sms")
    consumers = [
        {"consumerContent": {"inapp": "c-1", "sms": SF_MOBILE}},
        # Not E.164: ignored (the message goes in-app), never a reason to refuse or to fail.
        {"consumerContent": {"inapp": "c-2", "sms": "+1 (415) 555-2671 ext. 12"}},
    ]
    assert (await outbound.campaign(handoff_id, consumers))["acceptedCount"] == 2
    outbound.start()
    await outbound.run_until_done()
    rows = {d.consumer_id: d for d in await outbound.deliveries()}
    assert (rows["c-1"].phone, rows["c-1"].error_code) == (SF_MOBILE, "OPEN_CONVERSATION")
    assert (rows["c-2"].phone, rows["c-2"].status) == (None, "SENT")


async def test_the_accepted_answer_is_200_in_liveperson_shape_with_the_accepted_list(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    response = await outbound.post_campaign(
        campaign_body(handoff_id, [sms(SF_MOBILE), sms(SF_MOBILE_2[1:]), sms("+1")])
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "proactiveCampaignId",
        "leCampaignId",
        "leEngagementId",
        "acceptedConsumers",
        "acceptedCount",
        "failedConsumers",
        "requestTraceId",
    ]
    ids = {str(d.id): d.phone for d in await outbound.deliveries()}
    # Each accepted consumer by its recipient ID (as the recipient listing names it), with its
    # number in E.164 and its consumerContent as sent.
    assert [
        (ids[a["id"]], a["phoneNumber"], a["consumerContent"]) for a in body["acceptedConsumers"]
    ] == [
        (SF_MOBILE, SF_MOBILE, {"sms": SF_MOBILE}),
        (SF_MOBILE_2, SF_MOBILE_2, {"sms": SF_MOBILE_2[1:]}),
    ]
    assert body["acceptedCount"] == 2
    assert body["leCampaignId"] == body["proactiveCampaignId"]
    assert body["leEngagementId"].isdigit()
    assert [f["errorMessage"] for f in body["failedConsumers"]] == ["INVALID_NUMBER"]
    assert isinstance(body["requestTraceId"], str)
    assert body["requestTraceId"]
    minimal = await outbound.post_campaign(
        campaign_body(handoff_id, [sms(NY_MOBILE)]), {"Prefer": "return=minimal"}
    )
    assert "acceptedConsumers" not in minimal.json()
    assert minimal.json()["acceptedCount"] == 1
    campaign = await outbound.get_campaign(body["proactiveCampaignId"])
    assert campaign["campaignStatus"] == "ACCEPTED"
    assert campaign["counts"] == {"QUEUED": 2}


# --- Idempotency-Key -------------------------------------------------------------------------


async def test_the_same_idempotency_key_and_body_return_the_first_campaign_and_queue_once(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    body = campaign_body(handoff_id, [sms(SF_MOBILE), sms(SF_MOBILE_2)])
    key = {"Idempotency-Key": "renewals-2026-01"}
    first = await outbound.post_campaign(body, key)
    again = await outbound.post_campaign(body, key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(await outbound.deliveries()) == 2
    outbound.start()
    await outbound.run_until_done()
    assert sorted(s.address for s in outbound.sandbox.sent) == sorted([SF_MOBILE, SF_MOBILE_2])


async def test_the_same_idempotency_key_with_another_body_is_409(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    key = {"Idempotency-Key": "renewals-2026-01"}
    first = await outbound.post_campaign(campaign_body(handoff_id, [sms(SF_MOBILE)]), key)
    assert first.status_code == 200
    other = await outbound.post_campaign(campaign_body(handoff_id, [sms(SF_MOBILE_2)]), key)
    assert other.status_code == 409
    assert problem(other)["errorCode"] == 1030
    assert [d.phone for d in await outbound.deliveries()] == [SF_MOBILE]


# --- append ------------------------------------------------------------------------------------


async def test_consumers_can_be_appended_while_the_campaign_is_not_finished(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    body = await outbound.campaign(handoff_id, [sms(SLEEPING_MOBILE)])
    campaign_id = body["proactiveCampaignId"]
    response = await append(outbound, campaign_id, [sms(SF_MOBILE)])  # ACCEPTED
    assert response.status_code == 200, response.text
    assert response.json()["acceptedCount"] == 1
    outbound.start()
    await outbound.settle()  # SF is sent; Sydney waits for its morning
    campaign = await outbound.campaign_reaches(campaign_id, "IN_PROGRESS")
    assert campaign["counts"] == {"SENT": 1, "SCHEDULED": 1}
    response = await append(outbound, campaign_id, [sms(SF_MOBILE_2)])  # IN_PROGRESS
    assert response.status_code == 200, response.text
    assert response.json()["proactiveCampaignId"] == campaign_id
    await outbound.settle()
    assert sorted(s.address for s in outbound.sandbox.sent) == [SF_MOBILE_2, SF_MOBILE]
    campaign = await outbound.get_campaign(campaign_id)
    assert campaign["acceptedConsumers"] == 3
    assert campaign["counts"] == {"SENT": 2, "SCHEDULED": 1}


async def test_appended_consumers_already_in_the_campaign_are_duplicates(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    body = await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    campaign_id = body["proactiveCampaignId"]
    response = await append(outbound, campaign_id, [sms(SF_MOBILE), sms(NY_MOBILE), sms(NY_MOBILE)])
    assert response.status_code == 200
    result = response.json()
    assert result["acceptedCount"] == 1
    assert [f["errorMessage"] for f in result["failedConsumers"]] == ["DUPLICATE_NUMBER"] * 2
    assert sorted(d.phone or "" for d in await outbound.deliveries()) == [NY_MOBILE, SF_MOBILE]
    campaign = await outbound.get_campaign(campaign_id)
    assert (campaign["acceptedConsumers"], campaign["failedConsumers"]) == (2, 2)


@pytest.mark.parametrize("end", ["FINISHED", "CANCELLED"])
async def test_consumers_cannot_be_appended_once_the_campaign_ended(
    outbound: Outbound, end: str
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    campaign_id = (await outbound.campaign(handoff_id, [sms(SF_MOBILE)]))["proactiveCampaignId"]
    if end == "CANCELLED":
        assert (await cancel(outbound, campaign_id)).status_code == 200
    else:
        outbound.start()
        await outbound.run_until_done()
        await outbound.campaign_reaches(campaign_id, "FINISHED")
    response = await append(outbound, campaign_id, [sms(SF_MOBILE_2)])
    assert response.status_code == 409
    assert end in problem(response)["errorMessage"]
    assert len(await outbound.deliveries()) == 1


# --- cancel ------------------------------------------------------------------------------------


async def test_cancel_turns_queued_deliveries_and_the_campaign_cancelled(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    consumers = [sms(SF_MOBILE), sms(SF_MOBILE_2), sms(NY_MOBILE)]
    campaign_id = (await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"]
    response = await cancel(outbound, campaign_id)
    assert response.status_code == 200, response.text
    assert response.json()["campaignStatus"] == "CANCELLED"
    assert response.json()["counts"] == {"CANCELLED": 3}
    for d in await outbound.deliveries():
        assert (d.status, d.error_code, d.cancelled_time) == ("CANCELLED", "CANCELLED", START)
    outbound.start()
    await outbound.settle()
    assert outbound.sandbox.sent == []
    campaign = await outbound.get_campaign(campaign_id)
    assert (campaign["campaignStatus"], campaign["finishedAt"]) == ("CANCELLED", START_ISO)
    again = await cancel(outbound, campaign_id)
    assert again.status_code == 409
    assert (await requeue(outbound, campaign_id)).status_code == 409


async def test_cancel_while_a_worker_claims_the_campaign_succeeds(outbound: Outbound) -> None:
    # A worker's first claim locks deliveries, then moves their campaign to IN_PROGRESS; a
    # cancel at that moment must not deadlock with it (it did, on PostgreSQL).
    handoff_id = await outbound.handoff(wa_channel())
    campaigns = []
    for round_ in range(6):
        consumers = [wa(f"+49{round_}{n:09d}") for n in range(2000)]
        campaigns.append((await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"])
    outbound.start()
    for i, campaign_id in enumerate(campaigns):
        await asyncio.sleep(0.002 * i)
        response = await cancel(outbound, campaign_id)
        assert response.status_code == 200, response.text
        assert response.json()["campaignStatus"] == "CANCELLED"


# --- retry-failed ------------------------------------------------------------------------------


async def test_retry_failed_requeues_only_retryable_failures_and_keeps_their_history(
    outbound: Outbound,
) -> None:
    max_attempts = outbound.container.settings.worker_max_attempts
    handoff_id = await outbound.handoff(sms_channel())
    conversation = await outbound.open_conversation(phone=SF_MOBILE)  # → OPEN_CONVERSATION
    outbound.sandbox.script(SF_MOBILE_2, *["unavailable"] * max_attempts, "ok")  # → budget spent
    outbound.sandbox.script(NY_MOBILE, "reject:21610 unsubscribed")  # permanent
    consumers = [sms(SF_MOBILE), sms(SF_MOBILE_2), sms(NY_MOBILE), sms(UK_LANDLINE)]
    campaign_id = (await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"]
    outbound.start()
    await outbound.run_until_done()
    await outbound.campaign_reaches(campaign_id, "FINISHED")
    before = {d.phone: d for d in await outbound.deliveries()}
    assert {p: d.error_code for p, d in before.items()} == {
        SF_MOBILE: "OPEN_CONVERSATION",
        SF_MOBILE_2: "PROVIDER_UNAVAILABLE",
        NY_MOBILE: "PROVIDER_REJECTED",
        UK_LANDLINE: "INVALID_NUMBER",
    }
    await outbound.close_conversation(conversation)

    response = await requeue(outbound, campaign_id)
    assert response.status_code == 200, response.text
    assert response.json() == {"requeued": 2}
    assert (await outbound.get_campaign(campaign_id))["campaignStatus"] == "IN_PROGRESS"
    await outbound.run_until_done()
    await outbound.campaign_reaches(campaign_id, "FINISHED")

    rows = await outbound.deliveries()
    assert len(rows) == 6
    current = {d.phone: d for d in rows if d.superseded_by is None}
    assert {p: d.status for p, d in current.items()} == {
        SF_MOBILE: "SENT",
        SF_MOBILE_2: "SENT",
        NY_MOBILE: "FAILED",
        UK_LANDLINE: "FAILED",
    }
    for phone in (SF_MOBILE, SF_MOBILE_2):
        old = before[phone]
        kept = next(d for d in rows if d.id == old.id)
        # The failed attempt stays as it was (status never moves back) and points at its retry.
        assert (kept.status, kept.error_code, kept.failed_time) == (
            "FAILED",
            old.error_code,
            old.failed_time,
        )
        assert kept.superseded_by == current[phone].id
    for phone in (NY_MOBILE, UK_LANDLINE):
        assert current[phone].id == before[phone].id  # permanent failures were left alone
    campaign = await outbound.get_campaign(campaign_id)
    assert campaign["counts"] == {"SENT": 2, "FAILED": 2}
    listed = (await recipients(outbound, campaign_id)).json()["conversations"]
    assert sorted(r["phoneNumber"] for r in listed) == sorted(consumers_phones(consumers))
    # Nothing retryable is left: a second call re-queues nothing.
    assert (await requeue(outbound, campaign_id)).json() == {"requeued": 0}


# --- status and recipients ---------------------------------------------------------------------


async def test_campaign_status_counts_recipients_by_delivery_status(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.opt_out(NY_MOBILE)
    consumers = [sms(SF_MOBILE), sms(SF_MOBILE_2), sms(NY_MOBILE), sms(UK_LANDLINE)]
    body = await outbound.campaign(handoff_id, consumers, campaignName="Spring")
    campaign_id = body["proactiveCampaignId"]
    outbound.start()
    await outbound.run_until_done()
    campaign = await outbound.campaign_reaches(campaign_id, "FINISHED")
    assert campaign["counts"] == {"SENT": 2, "SKIPPED": 1, "FAILED": 1}
    assert campaign["proactiveCampaignId"] == campaign_id
    assert campaign["campaignName"] == "Spring"
    assert campaign["createdAt"] == START_ISO
    assert campaign["finishedAt"] is not None
    assert {"campaignStatus", "counts", "createdAt", "finishedAt"} <= campaign.keys()


async def test_recipients_are_listed_with_their_status_and_can_be_filtered_by_it(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    consumers = [sms(SF_MOBILE), sms(SF_MOBILE_2), sms(UK_LANDLINE)]
    campaign_id = (await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"]
    outbound.start()
    await outbound.run_until_done()
    failed = (await recipients(outbound, campaign_id, status="FAILED")).json()
    assert failed["nextCursor"] is None
    [row] = failed["conversations"]
    assert row["phoneNumber"] == UK_LANDLINE
    assert (row["channel"], row["status"], row["errorCode"]) == ("sms", "FAILED", "INVALID_NUMBER")
    assert row["errorMessage"]
    assert {"id", "consumerId", "channel", "status", "errorCode", "errorMessage"} <= row.keys()
    assert "conversationId" in row
    sent = (await recipients(outbound, campaign_id, status="SENT")).json()["conversations"]
    assert sorted(r["phoneNumber"] for r in sent) == sorted([SF_MOBILE, SF_MOBILE_2])
    assert (await recipients(outbound, campaign_id, status="REPLIED")).json()["conversations"] == []
    assert_refused(await recipients(outbound, campaign_id, status="LOST"), "status")


@pytest.mark.parametrize(("total", "limit"), [(25, 10), (20, 10), (7, 100)])
async def test_recipient_pages_walk_every_recipient_exactly_once(
    outbound: Outbound, total: int, limit: int
) -> None:
    handoff_id = await outbound.handoff(wa_channel())
    consumers = [wa(f"+4915{n:09d}") for n in range(total)]
    campaign_id = (await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await recipients(outbound, campaign_id, **params)).json()
        pages += 1
        assert len(page["conversations"]) <= limit
        seen += [r["phoneNumber"] for r in page["conversations"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert pages < 10
    assert sorted(seen) == sorted(c["consumerContent"]["wa"] for c in consumers)
    assert len(seen) == len(set(seen))
    assert pages == -(-total // limit)  # the last page already says there is no next one
    assert_refused(await recipients(outbound, campaign_id, cursor="not-a-cursor"), "cursor")


# --- volume ------------------------------------------------------------------------------------

HUNDRED_K = 100_000
TEN_K = 10_000


# PostgreSQL only (the scaled-out store). Sending all 100,000 takes over a minute here: on
# both databases bench/dispatch.py sends 100,000 and checks every recipient's final status, and
# the next test checks the same accounting on 10,000.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_campaign_of_100000_consumers_is_accepted_whole(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(wa_channel())
    numbers = [f"+4915{n:09d}" for n in range(HUNDRED_K)]
    response = await outbound.post_campaign(
        campaign_body(handoff_id, [wa(n) for n in numbers]), {"Prefer": "return=minimal"}
    )
    body = response.json()
    assert (body["acceptedCount"], body["failedConsumers"]) == (HUNDRED_K, [])
    assert await outbound.count(body["proactiveCampaignId"]) == HUNDRED_K


async def test_every_recipient_of_a_large_campaign_is_accounted_for_and_none_sent_twice(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(wa_channel())
    numbers = [f"+4915{n:09d}" for n in range(TEN_K)]
    rejected = set(numbers[:: TEN_K // 10])
    for number in rejected:
        outbound.sandbox.script(number, "reject:not on WhatsApp")
    campaign_id = (await outbound.campaign(handoff_id, [wa(n) for n in numbers]))[
        "proactiveCampaignId"
    ]
    outbound.start()
    await outbound.settle(timeout=300, interval=0.25)
    campaign = await outbound.campaign_reaches(campaign_id, "FINISHED")
    assert campaign["counts"] == {"SENT": TEN_K - len(rejected), "FAILED": len(rejected)}
    assert await outbound.count(campaign_id) == TEN_K
    sent_ids = [s.delivery_id for s in outbound.sandbox.sent]
    assert len(sent_ids) == len(set(sent_ids)) == TEN_K - len(rejected)  # none sent twice
    failed = await outbound.deliveries(status="FAILED")
    assert {d.phone for d in failed} == rejected
    assert all(d.error_code == "PROVIDER_REJECTED" for d in failed)


# A slow provider and a narrow lane, so that the cancel lands while most of the campaign waits
# claimed in the lane (a lane claims a batch ahead of its sends).
@pytest.mark.dispatch(worker_concurrency_wa=2)
async def test_cancel_stops_what_a_worker_claimed_but_has_not_sent(outbound: Outbound) -> None:
    outbound.sandbox.delay_seconds = 0.005
    handoff_id = await outbound.handoff(wa_channel())
    consumers = [wa(f"+4915{n:09d}") for n in range(600)]
    campaign_id = (await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"]
    outbound.start()
    await eventually(
        lambda: asyncio.sleep(0, len(outbound.sandbox.sent)), lambda n: n >= 5, what="sends"
    )
    response = await cancel(outbound, campaign_id)
    sent_before_cancel = len(outbound.sandbox.sent)
    assert response.status_code == 200
    if sent_before_cancel > len(consumers) // 2:  # a loaded machine: the cancel came too late
        pytest.skip(f"{sent_before_cancel} of {len(consumers)} were sent before the cancel")
    await outbound.settle()
    in_flight = outbound.container.settings.worker_concurrency_wa
    assert len(outbound.sandbox.sent) <= sent_before_cancel + in_flight
    counts = (await outbound.get_campaign(campaign_id))["counts"]
    assert counts["SENT"] == len(outbound.sandbox.sent)
    assert counts["CANCELLED"] == len(consumers) - len(outbound.sandbox.sent)
