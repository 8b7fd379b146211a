"""The Reporting API: each count of the funnel follows the deliveries' outcomes, live; reports
page, filter, stream as CSV, and read only the caller's account."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from parlay.consumers import usecases as consumer_usecases
from parlay.consumers.auth import ConsumerIdentity
from parlay.conversations import usecases as conversation_usecases
from parlay.conversations import workspace
from parlay.conversations.models import Conversation
from parlay.delivery import counts
from parlay.delivery.status import DeliveryStatus
from tests.conftest import Brand, make_brand, problem
from tests.handoffs.bodies import inapp_channel, sms_channel
from tests.outbound.support import (
    NY_MOBILE,
    SF_MOBILE,
    SF_MOBILE_2,
    START,
    UK_LANDLINE,
    Outbound,
    inapp,
    sms,
)

pytestmark = pytest.mark.anyio

DAY_MS = 24 * 3600 * 1000
START_MS = int(START.timestamp() * 1000)
WINDOW = {"attemptedStartTime": START_MS - DAY_MS, "attemptedEndTime": START_MS + DAY_MS}
TODAY = START.strftime("%m-%d-%Y")


def me(outbound: Outbound, consumer_id: str) -> ConsumerIdentity:
    return ConsumerIdentity(outbound.brand.id, consumer_id, {"sub": consumer_id})


async def report(
    outbound: Outbound, path: str, *, body: Any = None, **params: Any
) -> dict[str, Any]:
    url = f"/api/account/{outbound.brand.id}/app/{path}"
    headers = outbound.brand.auth(await outbound.brand.api_key("reporting"))
    if body is None:
        response = await outbound.client.get(url, params=params, headers=headers)
    else:
        response = await outbound.client.post(url, params=params, json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def rows_by_channel(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["channel"]: row for row in result["analytics"]}


async def reply_close_and_rate(outbound: Outbound, consumer_id: str, score: int) -> str:
    tx = outbound.container.tx
    posted = await conversation_usecases.consumer_writes(
        tx, outbound.container.origins, me(outbound, consumer_id), "yes please", None
    )
    async with tx.write() as uow:
        conversation = await uow.session.get(Conversation, posted.conversation_id)
        assert conversation is not None
        await workspace.close_conversation(uow, conversation, "agent")
    await conversation_usecases.rate_conversation(
        tx, me(outbound, consumer_id), posted.conversation_id, score
    )
    return posted.conversation_id


async def test_each_count_of_the_funnel_follows_what_became_of_each_delivery(
    outbound: Outbound,
) -> None:
    # In-app: delivered, read, replied + closed + rated, never logged in, refused by the provider.
    for consumer in ("c-delivered", "c-read", "c-replied", "c-refused"):
        await outbound.device(consumer)
    outbound.sandbox.script("c-refused", "reject:BadDeviceToken")
    inapp_handoff = await outbound.handoff(inapp_channel())
    consumers = [inapp(c) for c in ("c-delivered", "c-read", "c-replied", "c-refused", "c-never")]
    campaign = await outbound.campaign(inapp_handoff, consumers)
    # SMS: one sent, one opted out (skipped), one landline (failed before any provider).
    await outbound.opt_out(NY_MOBILE)
    sms_handoff = await outbound.handoff(sms_channel())
    await outbound.campaign(sms_handoff, [sms(SF_MOBILE), sms(NY_MOBILE), sms(UK_LANDLINE)])
    outbound.start()
    await outbound.run_until_done()
    by_consumer = {d.consumer_id: d for d in await outbound.deliveries(channel="inapp")}
    tx = outbound.container.tx
    for consumer, status in (("c-delivered", "DELIVERED"), ("c-read", "READ")):
        pushed = str(by_consumer[consumer].id)
        await consumer_usecases.push_receipt(
            tx, me(outbound, consumer), pushed, DeliveryStatus(status)
        )
    await reply_close_and_rate(outbound, "c-replied", 4)

    rows = rows_by_channel(await report(outbound, "prmsg/analytics", **WINDOW))

    assert set(rows) == {"inapp", "sms"}
    assert rows["inapp"] == {
        "channel": "inapp",
        "skill": "billing",
        "transactionday": TODAY,
        "attempted": 5,
        "eligible": 4,  # the refused push reached the provider; never-logged-in did not
        "skipped": 0,
        "sent": 3,
        "failed": 2,
        "delivered": 3,  # a read or answered message was delivered
        "read": 2,
        "conversationscreated": 1,
        "conversationsclosed": 1,
        "csat": 4.0,
        "failureReasons": {"NEVER_LOGGED_IN": 1, "PROVIDER_REJECTED": 1},
    }
    sms_row = rows["sms"]
    assert (sms_row["attempted"], sms_row["sent"], sms_row["skipped"], sms_row["failed"]) == (
        3,
        1,
        1,
        1,
    )
    assert sms_row["failureReasons"] == {"INVALID_NUMBER": 1, "OPTED_OUT": 1}
    assert sms_row["csat"] is None
    # The campaign's own funnel is the in-app row.
    own = await report(outbound, f"prmsg/campaigns/{campaign['proactiveCampaignId']}/analytics")
    assert own["analytics"] == [rows["inapp"]]
    # Nothing here was an IVR invite.
    assert (await report(outbound, "c2m/analytics", **WINDOW))["analytics"] == []


async def test_an_invite_is_counted_in_the_c2m_report_with_its_ivr_number_and_stage_times(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(inapp_channel(messageText="Tap to chat"))
    await outbound.device("c-1")
    call = await outbound.eligible(handoffId=handoff_id, consumerId="c-1", ivrNumber="+18005550100")
    outbound.start()
    assert (await outbound.invite(call["callId"])).status_code == 200
    await outbound.settle()

    [row] = (await report(outbound, "c2m/analytics", **WINDOW))["analytics"]
    assert (row["attempted"], row["eligible"], row["sent"], row["failed"]) == (1, 1, 1, 0)
    [t] = (await report(outbound, "c2m/transactions", **WINDOW))["transactions"]
    assert (t["channel"], t["consumerId"], t["handOffId"], t["status"]) == (
        "inapp",
        "c-1",
        handoff_id,
        "SENT",
    )
    assert t["ivrNumber"] == "+18005550100"
    assert t["attemptedTime"] == t["sentTime"] == t["eligibleTime"] == "2026-01-05T17:00:00.000Z"
    assert (t["deliveredTime"], t["failedTime"]) == (None, None)


async def test_a_status_change_shows_in_the_reports_at_once(outbound: Outbound) -> None:
    await outbound.device("c-1")
    handoff_id = await outbound.handoff(inapp_channel())
    await outbound.campaign(handoff_id, [inapp("c-1")])
    [queued] = (await report(outbound, "prmsg/analytics", **WINDOW))["analytics"]
    assert (queued["attempted"], queued["sent"]) == (1, 0)
    outbound.start()
    await outbound.settle()
    [sent] = (await report(outbound, "prmsg/analytics", **WINDOW))["analytics"]
    assert (sent["attempted"], sent["sent"]) == (1, 1)


async def test_days_split_in_the_accounts_time_zone(outbound: Outbound) -> None:
    response = await outbound.client.put(
        f"{outbound.brand.url}/settings",
        json={"timeZone": "Asia/Tokyo"},
        headers=outbound.brand.admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["timeZone"] == "Asia/Tokyo"
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])  # 17:00 UTC = 02:00 next day in Tokyo
    [row] = (await report(outbound, "prmsg/analytics", **WINDOW))["analytics"]
    assert row["transactionday"] == (START + timedelta(days=1)).strftime("%m-%d-%Y")
    bad = await outbound.client.put(
        f"{outbound.brand.url}/settings",
        json={"timeZone": "Mars/Olympus"},
        headers=outbound.brand.admin,
    )
    assert problem(bad)["errors"][0]["field"] == "timeZone"


async def test_a_window_edge_inside_a_15_minute_slot_counts_exactly(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])  # attempted at START exactly
    outbound.advance(timedelta(minutes=5))
    await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)])  # START + 5 min
    from_4_minutes = {
        "attemptedStartTime": START_MS + 4 * 60_000,
        "attemptedEndTime": START_MS + DAY_MS,
    }
    [row] = (await report(outbound, "prmsg/analytics", **from_4_minutes))["analytics"]
    assert row["attempted"] == 1
    until_5_minutes = {
        "attemptedStartTime": START_MS - DAY_MS,
        "attemptedEndTime": START_MS + 300_000,
    }
    [row] = (await report(outbound, "prmsg/analytics", **until_5_minutes))["analytics"]
    assert row["attempted"] == 1


async def test_filters_keep_only_the_channels_and_skills_named(outbound: Outbound) -> None:
    await outbound.device("c-1")
    await outbound.campaign(await outbound.handoff(inapp_channel()), [inapp("c-1")])
    await outbound.campaign(await outbound.handoff(sms_channel()), [sms(SF_MOBILE)])
    only_sms = {"filters": {"channels": ["sms"]}}
    result = await report(outbound, "prmsg/analytics", body=only_sms, **WINDOW)
    assert [r["channel"] for r in result["analytics"]] == ["sms"]
    assert result["requestMetadata"]["filters"] == {"channels": ["sms"], "skills": None}
    no_skill = {"filters": {"skills": ["no-such-skill"]}}
    assert (await report(outbound, "prmsg/analytics", body=no_skill, **WINDOW))["analytics"] == []
    top_level = await report(outbound, "prmsg/transactions", body={"channels": ["inapp"]}, **WINDOW)
    assert [t["channel"] for t in top_level["transactions"]] == ["inapp"]


@pytest.mark.edge
@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"attemptedEndTime": START_MS}, "attemptedStartTime"),
        ({"attemptedStartTime": START_MS, "attemptedEndTime": START_MS}, "attemptedEndTime"),
        (
            {"attemptedStartTime": START_MS, "attemptedEndTime": START_MS + 61 * DAY_MS},
            "attemptedEndTime",
        ),
    ],
)
async def test_the_window_is_required_and_at_most_60_days(
    outbound: Outbound, window: dict[str, int], field: str
) -> None:
    headers = outbound.brand.auth(await outbound.brand.api_key("reporting"))
    for path in ("prmsg/analytics", "c2m/transactions"):
        response = await outbound.client.get(
            f"/api/account/{outbound.brand.id}/app/{path}", params=window, headers=headers
        )
        assert response.status_code == 400, response.text
        assert problem(response)["errors"][0]["field"] == field


async def test_the_campaign_report_pages_by_offset_to_the_last_page_and_streams_as_csv(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(inapp_channel())
    consumers = [inapp(f"c-{i}") for i in range(7)]
    campaign_id = (await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"]
    path = f"prmsg/campaigns/{campaign_id}"
    seen: list[str] = []
    offset, pages = 0, []
    while offset != -1:
        page = await report(outbound, path, offset=offset, limit=3)
        pages.append(page["page"])
        seen += [r["consumerId"] for r in page["consumersReport"]]
        offset = page["page"]["nextOffset"]
    assert seen == [f"c-{i}" for i in range(7)]
    assert pages == [
        {"count": 7, "previousOffset": -1, "currentOffset": 0, "nextOffset": 3},
        {"count": 7, "previousOffset": 0, "currentOffset": 3, "nextOffset": 6},
        {"count": 7, "previousOffset": 3, "currentOffset": 6, "nextOffset": -1},
    ]
    first = (await report(outbound, path, limit=1))["consumersReport"][0]
    assert set(first) == {
        "id",
        "consumerId",
        "status",
        "errorSource",
        "errorCode",
        "errorMessage",
        "conversationId",
    }

    headers = outbound.brand.auth(await outbound.brand.api_key("reporting"))
    response = await outbound.client.get(
        f"/api/account/{outbound.brand.id}/app/{path}", params={"format": "csv"}, headers=headers
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["consumerId"] for r in rows] == [f"c-{i}" for i in range(7)]


async def test_transactions_stream_every_row_as_csv_across_chunks(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parlay.reporting import usecases

    monkeypatch.setattr(usecases, "STREAM_CHUNK", 4)  # several reads, one response
    handoff_id = await outbound.handoff(inapp_channel())
    await outbound.campaign(handoff_id, [inapp(f"c-{i}") for i in range(10)])
    outbound.advance(timedelta(minutes=1, microseconds=123_456))
    await outbound.campaign(await outbound.handoff(sms_channel()), [sms(SF_MOBILE)])
    headers = outbound.brand.auth(await outbound.brand.api_key("reporting"))
    url = f"/account/{outbound.brand.id}/app/prmsg/transactions"  # LivePerson's older path
    response = await outbound.client.get(url, params={**WINDOW, "format": "csv"}, headers=headers)
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["consumerId"] for r in rows] == [*(f"c-{i}" for i in range(10)), SF_MOBILE]
    assert list(rows[0]) == list(usecases_fields())
    # Each stage's time as the JSON report writes it (the stream reads them as text).
    page = await report(outbound, "prmsg/transactions", offset=0, limit=20, **WINDOW)
    times = [f for f in usecases_fields() if f.endswith("Time")]
    assert [{f: r[f] or None for f in times} for r in rows] == [
        {f: t[f] for f in times} for t in page["transactions"]
    ]
    assert rows[-1]["attemptedTime"] == "2026-01-05T17:01:00.123Z"
    page = await report(outbound, "prmsg/transactions", offset=8, limit=5, **WINDOW)
    assert page["page"] == {"count": 11, "previousOffset": 3, "currentOffset": 8, "nextOffset": -1}
    only_sms = await outbound.client.post(
        url, params={**WINDOW, "format": "csv"}, json={"channels": ["sms"]}, headers=headers
    )
    assert [r["consumerId"] for r in csv.DictReader(io.StringIO(only_sms.text))] == [SF_MOBILE]


def usecases_fields() -> tuple[str, ...]:
    from parlay.reporting.views import TRANSACTION_FIELDS

    return TRANSACTION_FIELDS


async def test_reports_need_the_reporting_scope_and_show_only_the_callers_account(
    outbound: Outbound, brand: Brand
) -> None:
    other = await make_brand(outbound.container, outbound.client, "globex")
    handoff_id = await outbound.handoff(sms_channel())
    campaign_id = (await outbound.campaign(handoff_id, [sms(SF_MOBILE)]))["proactiveCampaignId"]
    theirs = other.auth(await other.api_key("reporting"))
    mine_url = f"/api/account/{outbound.brand.id}/app"
    for path in (f"prmsg/campaigns/{campaign_id}", "prmsg/analytics", "prmsg/transactions"):
        response = await outbound.client.get(f"{mine_url}/{path}", params=WINDOW, headers=theirs)
        assert response.status_code == 404, (path, response.text)
    # Their own reports show nothing of ours, and our campaign is not theirs.
    their_url = f"/api/account/{other.id}/app"
    analytics = await outbound.client.get(
        f"{their_url}/prmsg/analytics", params=WINDOW, headers=theirs
    )
    assert analytics.json()["analytics"] == []
    campaign = await outbound.client.get(
        f"{their_url}/prmsg/campaigns/{campaign_id}", headers=theirs
    )
    assert campaign.status_code == 404
    proactive_only = outbound.brand.auth(await outbound.brand.api_key("proactive"))
    refused = await outbound.client.get(
        f"{mine_url}/prmsg/analytics", params=WINDOW, headers=proactive_only
    )
    assert refused.status_code == 403


async def test_a_rating_is_for_a_closed_conversation_of_ones_own_once(outbound: Outbound) -> None:
    await outbound.device("c-1")
    await outbound.campaign(await outbound.handoff(inapp_channel()), [inapp("c-1")])
    outbound.start()
    await outbound.settle()
    tx = outbound.container.tx
    posted = await conversation_usecases.consumer_writes(
        tx, outbound.container.origins, me(outbound, "c-1"), "hello", None
    )
    with pytest.raises(Exception, match="once it is closed"):
        await conversation_usecases.rate_conversation(
            tx, me(outbound, "c-1"), posted.conversation_id, 5
        )
    with pytest.raises(Exception, match="no conversation"):
        await conversation_usecases.rate_conversation(
            tx, me(outbound, "c-2"), posted.conversation_id, 5
        )


def test_a_later_stage_counts_the_earlier_ones_and_a_refusal_by_a_provider_was_eligible() -> None:
    funnel = dict(zip(counts.METRICS, counts.funnel(counts.State("READ")), strict=True))
    assert funnel == {
        "attempted": 1,
        "eligible": 1,
        "skipped": 0,
        "sent": 1,
        "failed": 0,
        "delivered": 1,
        "read": 1,
        "conversations_created": 0,
        "conversations_closed": 0,
    }
    refused = counts.funnel(counts.State("FAILED", "PROVIDER_REJECTED"))
    checked_out = counts.funnel(counts.State("FAILED", "NO_PUSH_TOKEN"))
    assert refused[counts.METRICS.index("eligible")] == 1
    assert checked_out[counts.METRICS.index("eligible")] == 0
    undelivered = counts.funnel(counts.State("FAILED", "PROVIDER_REJECTED", sent=True))
    assert (
        undelivered[counts.METRICS.index("sent")],
        undelivered[counts.METRICS.index("failed")],
    ) == (1, 1)
    assert counts.reason(counts.State("EXPIRED", "EXPIRED")) == "EXPIRED"
    assert counts.reason(counts.State("SENT")) is None


async def kept_and_recounted(outbound: Outbound, app: str) -> tuple[list[Any], list[Any]]:
    from parlay.reporting import service

    window = service.Window.of(WINDOW["attemptedStartTime"], WINDOW["attemptedEndTime"])
    async with outbound.container.db.read() as session:
        args = (session, outbound.brand.id, service.App(app), window, service.Filters())
        return await service.analytics(*args), await service.analytics_from_deliveries(*args)


async def test_kept_counts_equal_a_recount_of_the_deliveries_after_retries_and_cancels(
    outbound: Outbound,
) -> None:
    max_attempts = outbound.container.settings.worker_max_attempts
    outbound.sandbox.script(SF_MOBILE_2, *["unavailable"] * max_attempts, "ok")
    handoff_id = await outbound.handoff(sms_channel())
    consumers = [sms(SF_MOBILE), sms(SF_MOBILE_2), sms(UK_LANDLINE)]
    campaign_id = (await outbound.campaign(handoff_id, consumers))["proactiveCampaignId"]
    cancelled = (await outbound.campaign(handoff_id, [sms(NY_MOBILE)]))["proactiveCampaignId"]
    cancel = await outbound.client.post(
        f"{outbound.campaigns_url}/{cancelled}/cancel", headers=outbound.proactive
    )
    assert cancel.status_code == 200, cancel.text
    outbound.start()
    await outbound.run_until_done()
    retried = await outbound.client.post(
        f"{outbound.campaigns_url}/{campaign_id}/retry-failed", headers=outbound.proactive
    )
    assert retried.json() == {"requeued": 1}
    await outbound.run_until_done()

    kept, recounted = await kept_and_recounted(outbound, "prmsg")
    assert kept == recounted
    [row] = kept
    # The retried number counts once, as its latest (sent) attempt.
    assert (row.count("attempted"), row.count("sent"), row.count("failed")) == (4, 2, 1)
    assert row.reasons == {"INVALID_NUMBER": 1, "CANCELLED": 1}
    # So are each campaign's recipients by status (what the campaign pages and API show).
    from parlay.campaigns import service as campaigns

    async with outbound.container.db.read() as session:
        for campaign in (campaign_id, cancelled):
            kept_statuses = await campaigns.status_counts(session, campaign)
            assert kept_statuses == await campaigns.status_counts_from_deliveries(session, campaign)
        assert await campaigns.status_counts(session, campaign_id) == {"SENT": 2, "FAILED": 1}


async def test_a_day_of_a_daylight_saving_change_is_split_at_local_midnight(
    outbound: Outbound,
) -> None:
    await outbound.client.put(
        f"{outbound.brand.url}/settings",
        json={"timeZone": "America/New_York"},
        headers=outbound.brand.admin,
    )
    handoff_id = await outbound.handoff(sms_channel())
    # 2026-03-08 01:30 EST, before the clocks go forward at 07:00 UTC ...
    outbound.advance_to(datetime(2026, 3, 8, 6, 30, tzinfo=UTC))
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    # ... and 2026-03-09 00:30 EDT (still 03-08 at the winter offset).
    outbound.advance_to(datetime(2026, 3, 9, 4, 30, tzinfo=UTC))
    await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)])
    march = {
        "attemptedStartTime": int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000),
        "attemptedEndTime": int(datetime(2026, 3, 15, tzinfo=UTC).timestamp() * 1000),
    }
    result = await report(outbound, "prmsg/analytics", **march)
    assert [(r["transactionday"], r["attempted"]) for r in result["analytics"]] == [
        ("03-08-2026", 1),
        ("03-09-2026", 1),
    ]


async def test_a_zone_half_an_hour_off_splits_its_days_inside_an_hour(outbound: Outbound) -> None:
    """India is UTC+05:30: its midnight falls at half past a UTC hour, so that hour's two halves
    belong to two days (the hourly counts can't answer it; its slots do)."""
    await outbound.client.put(
        f"{outbound.brand.url}/settings",
        json={"timeZone": "Asia/Kolkata"},
        headers=outbound.brand.admin,
    )
    handoff_id = await outbound.handoff(sms_channel())
    outbound.advance_to(datetime(2026, 3, 8, 18, 20, tzinfo=UTC))  # 23:50 on 03-08 in India
    await outbound.campaign(handoff_id, [sms(SF_MOBILE)])
    outbound.advance_to(datetime(2026, 3, 8, 18, 35, tzinfo=UTC))  # 00:05 on 03-09 in India
    await outbound.campaign(handoff_id, [sms(SF_MOBILE_2)])
    march = {
        "attemptedStartTime": int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000),
        "attemptedEndTime": int(datetime(2026, 3, 15, tzinfo=UTC).timestamp() * 1000),
    }
    result = await report(outbound, "prmsg/analytics", **march)
    assert [(r["transactionday"], r["attempted"]) for r in result["analytics"]] == [
        ("03-08-2026", 1),
        ("03-09-2026", 1),
    ]
    # And a window starting and ending inside hours reads slots around the whole hours.
    inside = {
        "attemptedStartTime": int(datetime(2026, 3, 8, 18, 15, tzinfo=UTC).timestamp() * 1000),
        "attemptedEndTime": int(datetime(2026, 3, 8, 18, 30, tzinfo=UTC).timestamp() * 1000),
    }
    [row] = (await report(outbound, "prmsg/analytics", **inside))["analytics"]
    assert (row["transactionday"], row["attempted"]) == ("03-08-2026", 1)
