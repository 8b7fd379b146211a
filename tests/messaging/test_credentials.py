"""The SMS and WhatsApp credentials API: validated when saved, secrets sealed at rest and never
shown, a secret left out of a PUT kept only while the endpoint stays, the URL policy applied."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from parlay.messaging.models import ChannelAccount
from tests.conftest import Brand

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]
TOKEN = "0f" * 16
SMS = {
    "accountSid": "AC" + "5" * 32,
    "authToken": TOKEN,
    "fromNumber": "+1 415 555 0199",
    "endpoint": "https://twilio-proxy.example.com",
}
WA = {
    "phoneNumberId": "106540352242922",
    "accessToken": "EAAG-system-user-token-0123456789",
    "appSecret": "meta-app-secret-42",
    "verifyToken": "verify-me-please",
}


async def test_sms_credentials_are_checked_sealed_and_never_shown(brand: Brand) -> None:
    url, admin = f"{brand.url}/channels/sms", brand.admin
    assert (await brand.client.get(url, headers=admin)).status_code == 404  # the sandbox
    for change, field in (
        ({"accountSid": "AC" + "x" * 32}, "accountSid"),
        ({"fromNumber": "not a number"}, "fromNumber"),
        ({"fromNumber": None}, "fromNumber"),  # neither a sender nor a messaging service
        ({"messagingServiceSid": "MG" + "z" * 32}, "messagingServiceSid"),
    ):
        refused = await brand.client.put(url, headers=admin, json=SMS | change)
        assert refused.status_code == 400, change
        assert refused.json()["errors"][0]["field"] == field
    saved = await brand.client.put(url, headers=admin, json=SMS)
    assert saved.status_code == 200, saved.text
    view = saved.json()
    assert view["fromNumber"] == "+14155550199"
    assert view["hasAuthToken"] is True
    assert TOKEN not in saved.text
    async with brand.container.db.read() as session:
        stored = await session.scalar(select(ChannelAccount.settings))
    assert stored is not None
    assert TOKEN not in str(stored)
    assert set(stored["authToken"]) == {"enc"}

    kept = await brand.client.put(url, headers=admin, json={**SMS, "authToken": None})
    assert kept.status_code == 200, kept.text
    moved = {**SMS, "authToken": None, "endpoint": "https://elsewhere.example.com"}
    refused = await brand.client.put(url, headers=admin, json=moved)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "authToken"

    assert (await brand.client.delete(url, headers=admin)).status_code == 204
    assert (await brand.client.get(url, headers=admin)).status_code == 404


async def test_whatsapp_credentials_keep_every_secret_write_only(brand: Brand) -> None:
    url, admin = f"{brand.url}/channels/wa", brand.admin
    missing = await brand.client.put(url, headers=admin, json={**WA, "appSecret": None})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "appSecret"
    saved = await brand.client.put(url, headers=admin, json=WA)
    assert saved.status_code == 200, saved.text
    shown = (await brand.client.get(url, headers=admin)).text
    for secret in ("accessToken", "appSecret", "verifyToken"):
        assert WA[secret] not in shown
    assert (await brand.client.get(url, headers=admin)).json()["graphVersion"] == "v21.0"


@pytest.mark.production_urls
async def test_an_endpoint_override_must_be_a_public_https_url(brand: Brand) -> None:
    for endpoint in ("http://api.twilio.example", "https://127.0.0.1:8443"):
        refused = await brand.client.put(
            f"{brand.url}/channels/sms", headers=brand.admin, json=SMS | {"endpoint": endpoint}
        )
        assert refused.status_code == 400, endpoint
        assert refused.json()["errors"][0]["field"] == "endpoint"
