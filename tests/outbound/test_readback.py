"""Reading back what was sent: the campaign list, an invite by its call, a delivery by its ID."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Brand, problem
from tests.handoffs.bodies import sms_channel
from tests.outbound.support import SF_MOBILE, SF_MOBILE_2, Outbound, sms

pytestmark = pytest.mark.anyio


async def test_campaigns_are_listed_newest_first_in_pages_filtered_by_status_and_time(
    outbound: Outbound, other_brand: Brand
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    ids = []
    for name in ("first", "second", "third"):
        created = await outbound.campaign(handoff_id, [sms(SF_MOBILE)], campaignName=name)
        ids.append(created["proactiveCampaignId"])
        outbound.clock.advance(timedelta(minutes=1))
    cancel = f"{outbound.campaigns_url}/{ids[1]}/cancel"
    assert (await outbound.client.post(cancel, headers=outbound.proactive)).status_code == 200

    async def listing(query: str) -> dict[str, Any]:
        response = await outbound.client.get(
            f"{outbound.campaigns_url}?{query}", headers=outbound.proactive
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = await listing("limit=2")
    assert [c["proactiveCampaignId"] for c in first["campaigns"]] == [ids[2], ids[1]]
    rest = await listing(f"limit=2&cursor={first['nextCursor']}")
    assert [c["campaignName"] for c in rest["campaigns"]] == ["first"]
    assert rest["nextCursor"] is None

    cancelled = await listing("status=CANCELLED")
    assert [c["proactiveCampaignId"] for c in cancelled["campaigns"]] == [ids[1]]
    second_at = cancelled["campaigns"][0]["createdAt"]
    window = await listing(f"createdAfter={second_at}&createdBefore={second_at}")
    assert window["campaigns"] == []  # createdBefore is exclusive
    after = await listing(f"createdAfter={second_at.removesuffix('Z')}")  # no zone: UTC
    assert [c["campaignName"] for c in after["campaigns"]] == ["third", "second"]

    other = Brand.auth(await other_brand.api_key("proactive"))
    theirs = await outbound.client.get(f"/api/v2/account/{other_brand.id}/campaign", headers=other)
    assert theirs.json()["campaigns"] == []
    foreign_cursor = await outbound.client.get(
        f"/api/v2/account/{other_brand.id}/campaign?cursor={first['nextCursor']}", headers=other
    )
    assert foreign_cursor.status_code == 400
    bad = await outbound.client.get(
        f"{outbound.campaigns_url}?status=DONE", headers=outbound.proactive
    )
    assert bad.status_code == 400
    assert [e["field"] for e in problem(bad)["errors"]] == ["status"]
    garbage = await outbound.client.get(
        f"{outbound.campaigns_url}?cursor=%21%21", headers=outbound.proactive
    )
    assert [e["field"] for e in problem(garbage)["errors"]] == ["cursor"]
    not_a_time = await outbound.client.get(
        f"{outbound.campaigns_url}?createdAfter=yesterday", headers=outbound.proactive
    )
    assert [e["field"] for e in problem(not_a_time)["errors"]] == ["createdAfter"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_invite_is_read_back_by_its_call_with_its_delivery_stage_times(
    outbound: Outbound, other_brand: Brand
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    call_id = (await outbound.eligible(handoffId=handoff_id))["callId"]
    url = f"{outbound.brand.url}/invite/{call_id}"

    before = (await outbound.client.get(url, headers=outbound.c2m)).json()
    assert (before["invited"], before["inviteStatus"], before["delivery"]) == (False, None, None)

    outbound.start()
    invited = (await outbound.invite(call_id)).json()
    await outbound.settle()
    after = await outbound.client.get(url, headers=outbound.c2m)

    assert after.status_code == 200, after.text
    body = after.json()
    assert (body["invited"], body["inviteStatus"], body["reason"]) == (True, "QUEUED", None)
    delivery = body["delivery"]
    assert delivery["deliveryId"] == invited["deliveryId"]
    assert (delivery["status"], delivery["source"], delivery["callId"]) == (
        "SENT",
        "IVR_DEFLECTION",
        call_id,
    )
    assert delivery["attemptedTime"] is not None
    assert delivery["sentTime"] is not None
    assert delivery["failedTime"] is None

    other = Brand.auth(await other_brand.api_key("c2m"))
    theirs = await outbound.client.get(
        f"/api/account/{other_brand.id}/invite/{call_id}", headers=other
    )
    assert theirs.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_delivery_is_read_by_its_id_with_every_stage_time_in_its_account_only(
    outbound: Outbound, other_brand: Brand
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.opt_out(SF_MOBILE_2)
    created = await outbound.campaign(handoff_id, [sms(SF_MOBILE), sms(SF_MOBILE_2)])
    outbound.start()
    await outbound.settle()
    sent_id, skipped_id = (c["id"] for c in created["acceptedConsumers"])
    reporting = Brand.auth(await outbound.brand.api_key("reporting"))

    sent = (
        await outbound.client.get(f"{outbound.brand.url}/deliveries/{sent_id}", headers=reporting)
    ).json()
    skipped = (
        await outbound.client.get(
            f"{outbound.brand.url}/deliveries/{skipped_id}", headers=reporting
        )
    ).json()

    assert (sent["status"], sent["proactiveCampaignId"]) == ("SENT", created["proactiveCampaignId"])
    assert sent["consumerPhoneNumber"] == SF_MOBILE
    assert sent["sentTime"] is not None
    assert (skipped["status"], skipped["errorCode"]) == ("SKIPPED", "OPTED_OUT")
    assert skipped["skippedTime"] is not None
    assert skipped["sentTime"] is None
    other = Brand.auth(await other_brand.api_key("reporting"))
    theirs = await outbound.client.get(
        f"/api/account/{other_brand.id}/deliveries/{sent_id}", headers=other
    )
    assert theirs.status_code == 404
