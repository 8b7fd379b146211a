"""The Settings page: the account's settings with the API's rules, each refusal beside its field."""

from __future__ import annotations

import pytest

from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio

FORM = {
    "time_zone": "Europe/Paris",
    "default_skill": "billing",
    "welcome_message_enabled": "on",
    "welcome_message_text": "Hello!",
    "rate_limits_c2m": "20",
    "rate_limits_proactive": "30",
    "rate_limits_reporting": "5",
    "rate_limits_consumer": "10",
}


async def test_an_admin_changes_the_settings_the_api_then_serves(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    saved = await web.http.post("/app/settings", data={**FORM, "csrf_token": csrf})
    assert saved.status_code == 303, saved.text
    settings = (await web.http.get(f"{web.brand.url}/settings", headers=web.brand.admin)).json()
    assert settings["timeZone"] == "Europe/Paris"
    assert settings["defaultSkill"] == "billing"
    assert settings["welcomeMessage"] == {"enabled": True, "text": "Hello!"}
    assert settings["rateLimits"]["proactive"] == 30
    page = await web.http.get("/app/settings?saved")
    assert 'value="Europe/Paris"' in page.text


@pytest.mark.parametrize(
    ("change", "field"),
    [({"time_zone": "Mars/Olympus"}, "time_zone"), ({"rate_limits_c2m": "0"}, "rate_limits_c2m")],
)
async def test_a_setting_the_api_refuses_is_shown_beside_its_field(
    web: WebClient, change: dict[str, str], field: str
) -> None:
    csrf = await web.signed_in_as("admin")
    refused = await web.http.post("/app/settings", data={**FORM, **change, "csrf_token": csrf})
    assert refused.status_code == 400
    assert f'id="{field}-error"' in refused.text
    assert f"{field}-error" in refused.text.split(f'id="{field}"')[1].split(">")[0]
