"""The Handoffs page: the account's handoffs, created and changed with the JSON API's rules, each
refusal beside the input it is about."""

from __future__ import annotations

import pytest

from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio

SMS_HANDOFF = {
    "name": "Billing by SMS",
    "skill": "billing",
    "lookback_period_day": "2",
    "lookback_period_hour": "",
    "route_all_within_lookback": "on",
    "push_when_logged_in": "on",
    "channel_sms": "on",
    "sms_outbound_number": "+1 415 555 0100",
    "sms_message_text": "Reply to talk to billing.",
    "channel_wa": "on",
    "wa_template_name": "billing_invite",
    "wa_template_language": "en_US",
    "order": "wa,sms",
}


async def test_a_handoff_made_in_the_form_is_the_one_the_api_serves(web: WebClient) -> None:
    csrf = await web.signed_in_as("campaign_manager")
    created = await web.http.post("/app/handoffs", data={**SMS_HANDOFF, "csrf_token": csrf})
    assert created.status_code == 303, created.text
    listed = await web.http.get(f"{web.brand.url}/handoffs", headers=web.brand.admin)
    [handoff] = listed.json()["handoffs"]
    assert handoff["skill"] == "billing"
    assert (handoff["lookbackPeriodDay"], handoff["lookbackPeriodHour"]) == (2, 0)
    assert [c["type"] for c in handoff["channels"]] == ["wa", "sms"]
    assert handoff["channels"][1]["outboundNumber"] == "+14155550100"
    assert handoff["pushWhenLoggedOut"] is False

    edit = await web.http.get(f"/app/handoffs/{handoff['id']}")
    assert 'value="billing_invite"' in edit.text
    changed = {**SMS_HANDOFF, "name": "Billing", "order": "sms,wa", "csrf_token": csrf}
    saved = await web.http.post(f"/app/handoffs/{handoff['id']}", data=changed)
    assert saved.status_code == 303, saved.text
    again = await web.http.get(f"{web.brand.url}/handoffs/{handoff['id']}", headers=web.brand.admin)
    assert again.json()["name"] == "Billing"
    assert [c["type"] for c in again.json()["channels"]] == ["sms", "wa"]

    deleted = await web.http.post(
        f"/app/handoffs/{handoff['id']}/delete", data={"csrf_token": csrf}
    )
    assert deleted.status_code == 303
    gone = await web.http.get(f"{web.brand.url}/handoffs/{handoff['id']}", headers=web.brand.admin)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        # the schema's rule
        ({"lookback_period_day": "31"}, "lookback_period_day", "less than or equal to 30"),
        # the use case's rules, each named by its API path
        (
            {"lookback_period_day": "0", "lookback_period_hour": "0"},
            "lookback_period_day",
            "1 hour to 30 days",
        ),
        ({"wa_template_name": ""}, "wa_template_name", "approved template"),
        ({"sms_outbound_number": "not a number"}, "sms_outbound_number", "E.164"),
        ({"channel_inapp": "on"}, "channels", "cannot be combined"),
        ({"skill": "nobody"}, "skill", "No skill named"),
    ],
)
async def test_each_rule_of_a_handoff_is_shown_beside_its_own_field(
    web: WebClient, change: dict[str, str], field: str, says: str
) -> None:
    csrf = await web.signed_in_as("admin")
    form = {**SMS_HANDOFF, **change, "csrf_token": csrf}
    response = await web.http.post("/app/handoffs", data=form)
    assert response.status_code == 400
    assert f'aria-describedby="{field}-error"' in response.text or (
        f'aria-describedby="{field}-hint {field}-error"' in response.text
    )
    assert says in response.text.split(f'id="{field}-error">')[1].split("</p>")[0]
    # What was typed is still there.
    assert 'value="Billing by SMS"' in response.text


async def test_an_agent_manager_reads_handoffs_but_is_not_offered_changes(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    await web.http.post("/app/handoffs", data={**SMS_HANDOFF, "csrf_token": csrf})
    csrf = await web.signed_in_as("agent_manager")
    listed = await web.http.get("/app/handoffs")
    assert "Billing by SMS" in listed.text
    assert "New handoff" not in listed.text
    handoff_id = listed.text.split('href="/app/handoffs/')[1].split('"')[0]
    page = await web.http.get(f"/app/handoffs/{handoff_id}")
    assert page.status_code == 200
    assert "Save handoff" not in page.text
    refused = await web.http.post(
        f"/app/handoffs/{handoff_id}", data={**SMS_HANDOFF, "csrf_token": csrf}
    )
    assert refused.status_code == 403
