"""The Webhooks page: subscribing (the secret shown once), the attempt log, a test event, and
enabling a subscription Parlay disabled."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from parlay.webhooks.models import WebhookSubscription
from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio

HOOK = "https://hooks.acme.example/parlay"


async def test_subscribing_shows_the_secret_once_and_the_api_lists_the_subscription(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("admin")
    form = {"url": HOOK, "events": ["delivery.*", "conversation.closed"], "csrf_token": csrf}
    created = await web.http.post("/app/webhooks", data=form)
    assert created.status_code == 201, created.text
    found = re.search(r'id="new-secret" type="text" value="([^"]+)"', created.text)
    assert found is not None
    assert "Copy signing secret" in created.text
    listed = await web.http.get(f"{web.brand.url}/webhooks", headers=web.brand.admin)
    [hook] = listed.json()["webhooks"]
    assert (hook["url"], sorted(hook["events"])) == (HOOK, ["conversation.closed", "delivery.*"])
    again = await web.http.get("/app/webhooks")
    assert found.group(1) not in again.text
    assert HOOK in again.text


async def test_an_address_the_api_refuses_is_shown_beside_the_url(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    form = {"url": "no scheme here", "events": ["delivery.*"], "csrf_token": csrf}
    refused = await web.http.post("/app/webhooks", data=form)
    assert refused.status_code == 400
    assert 'aria-describedby="url-hint url-error"' in refused.text
    no_events = await web.http.post("/app/webhooks", data={"url": HOOK, "csrf_token": csrf})
    assert no_events.status_code == 400
    assert 'id="events-error"' in no_events.text


async def test_a_test_event_is_queued_and_a_disabled_subscription_is_enabled_again(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("admin")
    await web.http.post(
        "/app/webhooks", data={"url": HOOK, "events": ["delivery.*"], "csrf_token": csrf}
    )
    listed = await web.http.get(f"{web.brand.url}/webhooks", headers=web.brand.admin)
    hook_id = listed.json()["webhooks"][0]["id"]
    tested = await web.http.post(f"/app/webhooks/{hook_id}/test", data={"csrf_token": csrf})
    assert tested.status_code == 303
    page = await web.http.get(tested.headers["location"])
    assert "Test event queued" in page.text
    assert "Delivery attempts" in page.text

    async with web.brand.container.db.write() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == hook_id)
            .values(state="disabled", disabled_reason="failing for 3 days")
        )
    refused = await web.http.post(f"/app/webhooks/{hook_id}/test", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert "Enable subscription" in refused.text
    enabled = await web.http.post(f"/app/webhooks/{hook_id}/enable", data={"csrf_token": csrf})
    assert enabled.status_code == 303
    after = await web.http.get(f"{web.brand.url}/webhooks/{hook_id}", headers=web.brand.admin)
    assert after.json()["state"] == "active"
