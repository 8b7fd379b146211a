"""The Campaigns pages: files checked row by row with the API's rules before anything is sent,
one campaign per form however often it is sent, role gates and account isolation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Brand
from tests.handoffs.bodies import handoff, inapp_channel, sms_channel
from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio

GOOD_PHONE = "+14155552671"
OTHER_PHONE = "+14155550100"


async def _handoff(brand: Brand, *, sms: bool = True) -> str:
    """An SMS handoff whose text takes one variable, or an in-app one that takes none."""
    body = handoff(sms_channel(messageText="Hi {{1}}")) if sms else handoff(inapp_channel())
    response = await brand.client.post(f"{brand.url}/handoffs", json=body, headers=brand.admin)
    assert response.status_code == 201, response.text
    handoff_id: str = response.json()["id"]
    return handoff_id


def _form(csrf: str, handoff_id: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "name": "Spring",
        "handoff": handoff_id,
        "skill": "billing",
        "upload_id": "0123456789abcdef0123456789abcdef",
        **fields,
    }


def _file(text: str) -> dict[str, Any]:
    return {"recipients_file": ("recipients.csv", text.encode(), "text/csv")}


async def _campaigns(brand: Brand) -> list[dict[str, Any]]:
    listed = await brand.client.get(f"/api/v2/account/{brand.id}/campaign", headers=brand.admin)
    assert listed.status_code == 200, listed.text
    campaigns: list[dict[str, Any]] = listed.json()["campaigns"]
    return campaigns


async def _api_campaign(brand: Brand, handoff_id: str, consumers: list[dict[str, Any]]) -> str:
    body = {
        "campaignName": "api",
        "skill": "billing",
        "templateId": handoff_id,
        "consent": True,
        "consumers": consumers,
    }
    response = await brand.client.post(
        f"/api/v2/account/{brand.id}/campaign", json=body, headers=brand.admin
    )
    assert response.status_code == 200, response.text
    campaign_id: str = response.json()["proactiveCampaignId"]
    return campaign_id


def _problem_rows(page: str) -> list[tuple[str, str, str]]:
    body = page.split('<table class="problems">')[1].split("</table>")[0]
    cells = re.findall(
        r"<tr><td class=\"num\">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", body
    )
    return [(line, column, reason) for line, column, reason in cells]


async def test_checking_a_file_lists_each_refused_row_by_line_column_and_reason_and_sends_nothing(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("campaign_manager")
    handoff_id = await _handoff(web.brand)
    text = (
        "consumerId,phone,1\n"
        f",{GOOD_PHONE},Ana\n"  # line 2: fine
        ",12,Bo\n"  # line 3: not a number
        f",{OTHER_PHONE},\n"  # line 4: variable 1 missing
        f",{GOOD_PHONE},Ana\n"  # line 5: the number twice
        "c-9,,Dee\n"  # line 6: no number for the SMS channel
        f",{OTHER_PHONE},Cy\n"  # line 7: fine
    )
    page = await web.http.post(
        "/app/campaigns/new", data=_form(csrf, handoff_id), files=_file(text)
    )
    assert page.status_code == 200, page.text
    assert "6 rows" in page.text
    assert "2 to send" in page.text
    assert _problem_rows(page.text) == [
        ("3", "phone", "INVALID_NUMBER"),
        ("4", "1", "MISSING_VARIABLE=1"),
        ("5", "phone", "DUPLICATE_NUMBER"),
        ("6", "consumerId / phone", "MISSING_CONSUMER_INFORMATION=sms"),
    ]
    assert "Send to 2 recipients" in page.text
    assert await _campaigns(web.brand) == []


async def test_a_file_that_cannot_be_read_is_refused_beside_the_recipients(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    handoff_id = await _handoff(web.brand)
    page = await web.http.post(
        "/app/campaigns/new",
        data=_form(csrf, handoff_id),
        files=_file("email,1\nana@example.com,Ana\n"),
    )
    assert page.status_code == 400
    error = page.text.split('id="recipients-error">')[1].split("</p>")[0]
    assert "unknown column &#39;email&#39;" in error


async def test_more_than_100000_rows_are_refused_before_sending(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    handoff_id = await _handoff(web.brand)
    rows = "".join(f"+1415{n:07d},x\n" for n in range(100_001))
    page = await web.http.post(
        "/app/campaigns/new", data=_form(csrf, handoff_id), files=_file(f"phone,1\n{rows}")
    )
    assert page.status_code == 400
    assert "at most 100,000 in one campaign" in page.text
    assert "Send to" not in page.text


async def test_a_form_sent_twice_creates_one_campaign_of_the_rows_that_pass(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("campaign_manager")
    handoff_id = await _handoff(web.brand)
    pasted = f"phone,1\n{GOOD_PHONE},Ana\n12,Bo\n{OTHER_PHONE},Cy\n"
    form = _form(csrf, handoff_id, recipients_text=pasted)
    first = await web.http.post("/app/campaigns", data=form)
    again = await web.http.post("/app/campaigns", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    [created] = await _campaigns(web.brand)
    assert first.headers["location"] == f"/app/campaigns/{created['proactiveCampaignId']}"
    assert created["acceptedConsumers"] == 2
    assert created["campaignName"] == "Spring"


async def test_the_same_form_sent_again_with_another_list_sends_nothing_more(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("campaign_manager")
    handoff_id = await _handoff(web.brand)
    first = _form(csrf, handoff_id, recipients_text=f"phone,1\n{GOOD_PHONE},Ana\n")
    assert (await web.http.post("/app/campaigns", data=first)).status_code == 303
    other = _form(csrf, handoff_id, recipients_text=f"phone,1\n{OTHER_PHONE},Bo\n")
    refused = await web.http.post("/app/campaigns", data=other)
    assert refused.status_code == 409
    assert "already sent with other fields or another file" in refused.text
    assert len(await _campaigns(web.brand)) == 1


async def test_an_htmx_send_answers_with_the_campaigns_page_to_open(web: WebClient) -> None:
    csrf = await web.signed_in_as("campaign_manager")
    handoff_id = await _handoff(web.brand)
    form = _form(csrf, handoff_id, recipients_text=f"phone,1\n{GOOD_PHONE},Ana\n")
    sent = await web.http.post("/app/campaigns", data=form, headers={"HX-Request": "true"})
    assert sent.status_code == 204
    [created] = await _campaigns(web.brand)
    assert sent.headers["HX-Redirect"] == f"/app/campaigns/{created['proactiveCampaignId']}"


async def test_a_missing_handoff_and_name_are_shown_beside_their_fields(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    form = _form(csrf, "nope", name="", recipients_text=f"phone\n{GOOD_PHONE}\n")
    page = await web.http.post("/app/campaigns", data=form)
    assert page.status_code == 400
    assert 'id="name-error">Required.' in page.text
    assert 'aria-describedby="handoff-error"' in page.text
    assert await _campaigns(web.brand) == []


async def test_the_campaign_page_lists_recipients_by_status_and_cancels(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    consumers = [{"consumerContent": {"inapp": f"c-{i}"}} for i in range(3)]
    campaign_id = await _api_campaign(web.brand, await _handoff(web.brand, sms=False), consumers)

    page = await web.http.get(f"/app/campaigns/{campaign_id}?status=QUEUED")
    assert page.status_code == 200
    assert page.text.count("<td>inapp</td>") == 3
    assert 'hx-trigger="every 2s"' in page.text  # sending: the counts poll
    assert (await web.http.get(f"/app/campaigns/{campaign_id}?status=SENT")).text.count(
        "<td>inapp</td>"
    ) == 0

    cancelled = await web.http.post(
        f"/app/campaigns/{campaign_id}/cancel", data={"csrf_token": csrf}
    )
    assert cancelled.status_code == 303
    counts = await web.http.get(f"/app/campaigns/{campaign_id}/counts")
    assert 'data-status="CANCELLED">3<' in counts.text
    assert "every 2s" not in counts.text  # settled: polling stops
    again = await web.http.post(f"/app/campaigns/{campaign_id}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "nothing to cancel" in again.text


async def test_the_recipients_csv_is_the_reporting_apis(web: WebClient) -> None:
    await web.signed_in_as("campaign_manager")
    consumers = [{"consumerContent": {"inapp": f"c-{i}"}} for i in range(2)]
    campaign_id = await _api_campaign(web.brand, await _handoff(web.brand, sms=False), consumers)
    mine = await web.http.get(f"/app/campaigns/{campaign_id}/recipients.csv")
    api = await web.brand.client.get(
        f"/api/account/{web.brand.id}/app/prmsg/campaigns/{campaign_id}?format=csv",
        headers=web.brand.admin,
    )
    assert mine.status_code == api.status_code == 200
    assert mine.headers["content-type"].startswith("text/csv")
    assert mine.text == api.text
    assert len(mine.text.splitlines()) == 3


@pytest.mark.parametrize("path", ["/app/campaigns", "/app/campaigns/new", "/app/dashboard"])
async def test_an_agent_opens_neither_campaigns_nor_the_dashboard(
    web: WebClient, path: str
) -> None:
    await web.signed_in_as("agent")
    refused = await web.http.get(path)
    assert refused.status_code == 403


async def test_an_agent_manager_reads_the_dashboard_but_not_campaigns(web: WebClient) -> None:
    await web.signed_in_as("agent_manager")
    assert (await web.http.get("/app/dashboard")).status_code == 200
    assert (await web.http.get("/app/campaigns")).status_code == 403


async def test_another_accounts_campaign_is_not_found(web: WebClient, other_brand: Brand) -> None:
    csrf = await web.signed_in_as("admin")
    theirs = await _api_campaign(
        other_brand,
        await _handoff(other_brand, sms=False),
        [{"consumerContent": {"inapp": "c-1"}}],
    )
    for path in ("", "/counts", "/recipients.csv"):
        assert (await web.http.get(f"/app/campaigns/{theirs}{path}")).status_code == 404, path
    for action in ("cancel", "retry-failed"):
        answer = await web.http.post(f"/app/campaigns/{theirs}/{action}", data={"csrf_token": csrf})
        assert answer.status_code == 404, action
    listed = await web.http.get("/app/campaigns")
    assert theirs not in listed.text


async def test_the_list_shows_each_campaign_with_its_counts(web: WebClient) -> None:
    await web.signed_in_as("campaign_manager")
    consumers = [{"consumerContent": {"inapp": f"c-{i}"}} for i in range(4)]
    campaign_id = await _api_campaign(web.brand, await _handoff(web.brand, sms=False), consumers)
    rows = await web.http.get("/app/campaigns/rows")
    assert rows.status_code == 200
    row = rows.text.split(f'href="/app/campaigns/{campaign_id}"')[1].split("</tr>")[0]
    numbers = re.findall(r'<td class="num">([\d,]+)</td>', row)
    assert numbers == ["4", "4", "0", "0", "0", "0"]  # recipients, waiting, sent, failed, ...
    assert 'hx-trigger="every 3s"' in rows.text
