"""The Apps page: apps and their push credentials, write-only, each refusal beside its field."""

from __future__ import annotations

import pytest

from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio

SECRET = "proxy-signing-secret-0123456789"
PROXY_APP = {
    "app_id": "com.acme.shop",
    "platform": "android",
    "push_service": "proxy",
    "proxy_url": "https://push.acme.example/parlay",
    "proxy_secret": SECRET,
    "proxy_headers": "X-Tenant: acme",
}


async def test_a_campaign_manager_adds_an_app_whose_secret_is_never_shown(web: WebClient) -> None:
    csrf = await web.signed_in_as("campaign_manager")
    created = await web.http.post("/app/apps", data={**PROXY_APP, "csrf_token": csrf})
    assert created.status_code == 303, created.text
    app = await web.http.get(f"{web.brand.url}/apps/com.acme.shop", headers=web.brand.admin)
    proxy = app.json()["proxy"]
    assert (proxy["hasSecret"], proxy["headerNames"]) == (True, ["X-Tenant"])

    page = await web.http.get("/app/apps/com.acme.shop")
    assert SECRET not in page.text
    assert "Set (last changed" in page.text
    # Saved again with the secret left empty: the stored one is kept.
    form = {**PROXY_APP, "proxy_secret": "", "platform": "ios", "csrf_token": csrf}
    saved = await web.http.post("/app/apps/com.acme.shop", data=form)
    assert saved.status_code == 303, saved.text
    app = await web.http.get(f"{web.brand.url}/apps/com.acme.shop", headers=web.brand.admin)
    assert (app.json()["platform"], app.json()["proxy"]["hasSecret"]) == ("ios", True)

    removed = await web.http.post("/app/apps/com.acme.shop/delete", data={"csrf_token": csrf})
    assert removed.status_code == 303
    gone = await web.http.get(f"{web.brand.url}/apps/com.acme.shop", headers=web.brand.admin)
    assert gone.status_code == 404


async def test_credentials_the_api_refuses_are_shown_beside_their_fields(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    form = {
        "app_id": "com.acme.ios",
        "platform": "ios",
        "push_service": "apns",
        "apns_team_id": "short",
        "apns_key_id": "ABCDE12345",
        "apns_private_key_pem": "not a key",
        "csrf_token": csrf,
    }
    refused = await web.http.post("/app/apps", data=form)
    assert refused.status_code == 400
    assert 'id="apns_team_id-error"' in refused.text
    assert "not a key" not in refused.text
    form["apns_team_id"] = "ABCDE12345"
    refused = await web.http.post("/app/apps", data=form)
    assert refused.status_code == 400
    assert 'id="apns_private_key_pem-error"' in refused.text
