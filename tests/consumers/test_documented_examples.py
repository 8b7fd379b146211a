"""The request examples of docs/app-messaging.md, docs/outbound.md and docs/push-proxy.md work
against Parlay as written, and Parlay answers with the status and the fields they show.

An IVR's in-app caller and an in-app campaign, as the pages walk through them: the app registers
a device, the IVR checks eligibility with SDEs, the brand sends a campaign with SDEs, and the
consumer writes back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Brand
from tests.consumers.conftest import Sdk

pytestmark = pytest.mark.anyio

DOCS = Path(__file__).resolve().parents[2] / "docs"
HANDOFF = "H493127398494201"


def example(page: str, heading: str) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """The request body and the answer (status, body) shown first under ``heading``."""
    text = (DOCS / page).read_text()
    section = text[text.index(heading) :]
    request, answer = re.findall(r"```(?:json|http)\n(.*?)```", section, flags=re.DOTALL)[:2]
    body = request.split("\n\n", 1)[1] if request.startswith(("POST", "PUT")) else request
    status, _, shown = answer.partition(" ")
    return json.loads(body), int(status), json.loads(shown)


def same_fields(shown: Any, actual: Any, where: str = "") -> None:
    """The answer has exactly the fields the page shows, at every depth."""
    if isinstance(shown, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(shown), where
        for name, value in shown.items():
            same_fields(value, actual[name], f"{where}.{name}")
    elif isinstance(shown, list) and shown:
        assert isinstance(actual, list), where
        assert len(actual) == len(shown), where
        for index, (a, b) in enumerate(zip(shown, actual, strict=True)):
            same_fields(a, b, f"{where}.{index}")


async def test_push_proxy_app_registers_as_the_page_shows(brand: Brand) -> None:
    body, status, shown = example("push-proxy.md", "## Turning it on")

    response = await brand.client.post(f"{brand.url}/apps", json=body, headers=brand.admin)

    assert response.status_code == status, response.text
    same_fields(shown, response.json())
    assert response.json()["proxy"] == shown["proxy"]


async def test_in_app_caller_and_campaign_with_sdes_work_as_the_pages_show(sdk: Sdk) -> None:
    brand = sdk.brand
    handoff = {
        "id": HANDOFF,
        "name": "Renewals",
        "skill": "billing",
        "channels": [{"type": "inapp", "appIds": ["com.acme.app"], "notificationTitle": "Acme"}],
    }
    created = await brand.client.post(f"{brand.url}/handoffs", json=handoff, headers=brand.admin)
    assert created.status_code == 201, created.text
    ann = sdk.headers("ann-42")

    device, status, shown = example("app-messaging.md", "### Register a device")
    registered = await brand.client.put(
        f"{sdk.url}/devices/8c1f0e2a-install", json=device, headers=ann
    )
    assert registered.status_code == status, registered.text
    same_fields(shown, registered.json())

    call, status, shown = example("outbound.md", "#### A caller who has the brand's app")
    c2m = brand.auth(await brand.api_key("c2m"))
    eligibility = await brand.client.post(f"{brand.url}/eligibility?v=2.0", json=call, headers=c2m)
    assert eligibility.status_code == status, eligibility.text
    same_fields(shown, eligibility.json())
    assert {k: v for k, v in eligibility.json().items() if k != "callId"} == {
        k: v for k, v in shown.items() if k != "callId"
    }

    campaign, status, shown = example("outbound.md", "#### An in-app campaign, with engagement")
    proactive = brand.auth(await brand.api_key("proactive"))
    accepted = await brand.client.post(
        f"/api/v2/account/{brand.id}/campaign", json=campaign, headers=proactive
    )
    assert accepted.status_code == status, accepted.text
    same_fields(shown, accepted.json())
    answer = accepted.json()
    assert (answer["acceptedCount"], answer["failedConsumers"]) == (2, [])
    assert [c["consumerContent"] for c in answer["acceptedConsumers"]] == [
        c["consumerContent"] for c in shown["acceptedConsumers"]
    ]

    message, status, shown = example("app-messaging.md", "### Talking with the brand")
    written = await brand.client.post(f"{sdk.url}/messages", json=message, headers=ann)
    assert written.status_code == status, written.text
    same_fields(shown, written.json())
    assert written.json()["message"]["text"] == shown["message"]["text"]
