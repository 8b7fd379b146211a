"""Handoffs over HTTP: creation, the rules of SPEC §5, and who may write."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio


def inapp_handoff(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Billing deflection",
        "skill": "billing",
        "channels": [{"type": "inapp", "appIds": ["com.acme.app"], "messageText": "Hi 👋"}],
    }
    body.update(overrides)
    return body


async def test_created_handoff_has_server_made_id_and_30_day_default_lookback(brand: Brand) -> None:
    response = await brand.client.post(f"{brand.url}/handoffs", json=inapp_handoff(), headers=brand.admin)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("H") and len(body["id"]) <= 16 and body["id"][1:].isdigit()
    assert (body["lookbackPeriodDay"], body["lookbackPeriodHour"]) == (30, 0)
    assert body["pushWhenLoggedIn"] is True and body["pushWhenLoggedOut"] is False


async def test_inapp_cannot_be_combined_with_sms(brand: Brand) -> None:
    body = inapp_handoff(
        channels=[{"type": "inapp", "appIds": ["com.acme.app"]}, {"type": "sms"}]
    )
    response = await brand.client.post(f"{brand.url}/handoffs", json=body, headers=brand.admin)
    assert response.status_code == 400
    assert problem(response)["errorCode"] == 1000
    assert "inapp cannot be combined" in problem(response)["errorMessage"]
