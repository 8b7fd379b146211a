"""The Channels page: the SMS and WhatsApp provider accounts, secrets write-only, each refusal
beside its field."""

from __future__ import annotations

import pytest

from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-0123456789"


async def test_an_admin_connects_twilio_and_the_token_is_never_shown(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    form = {
        "sms_account_sid": SID,
        "sms_auth_token": TOKEN,
        "sms_from_number": "+14155550100",
        "csrf_token": csrf,
    }
    saved = await web.http.post("/app/channels/sms", data=form)
    assert saved.status_code == 303, saved.text
    sms = (await web.http.get(f"{web.brand.url}/channels/sms", headers=web.brand.admin)).json()
    assert (sms["accountSid"], sms["hasAuthToken"]) == (SID, True)
    page = await web.http.get("/app/channels")
    assert SID in page.text
    assert TOKEN not in page.text
    assert "Auth token: set" in page.text

    # Left empty, the stored token is kept.
    form |= {"sms_auth_token": "", "sms_from_number": "+14155550199"}
    again = await web.http.post("/app/channels/sms", data=form)
    assert again.status_code == 303, again.text
    off = await web.http.post("/app/channels/sms/disconnect", data={"csrf_token": csrf})
    assert off.status_code == 303
    gone = await web.http.get(f"{web.brand.url}/channels/sms", headers=web.brand.admin)
    assert gone.status_code == 404


async def test_provider_details_the_api_refuses_are_shown_beside_their_fields(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("admin")
    form = {"sms_account_sid": "AC" + "x" * 32, "sms_auth_token": TOKEN, "csrf_token": csrf}
    refused = await web.http.post("/app/channels/sms", data=form)
    assert refused.status_code == 400
    assert "32 hex digits" in refused.text.split('id="sms_account_sid-error">')[1]
    assert TOKEN not in refused.text
    wa = {"wa_phone_number_id": "not digits", "wa_access_token": "t" * 20, "csrf_token": csrf}
    refused = await web.http.post("/app/channels/wa", data=wa)
    assert refused.status_code == 400
    assert 'id="wa_phone_number_id-error"' in refused.text
