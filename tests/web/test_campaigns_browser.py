"""Campaigns and the dashboard in a real browser, against ``parlay serve`` (API and dispatcher)
whose channels are the sandbox: sends are accepted after a delay, or refused as scripted.

Set ``PARLAY_DOCS_SCREENSHOTS=docs/img`` to save the pages' screenshots for the docs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, ViewportSize, expect

from parlay.accounts.permissions import Role
from tests.conftest import TEST_PASSWORD
from tests.handoffs.bodies import handoff, inapp_channel, wa_channel
from tests.servers import start_api, stop, wait_ready
from tests.web.browser import ACCOUNT, LiveParlay, _create_account, require_chromium, sign_in

SCRIPTED_REFUSAL = "+14155550199"  # the sandbox refuses every send to this number
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
SHOTS = os.environ.get("PARLAY_DOCS_SCREENSHOTS")


@pytest.fixture(scope="module")
def live_sending(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveParlay]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("sending")
    script = tmp / "sandbox.json"
    script.write_text(json.dumps({SCRIPTED_REFUSAL: ["reject:blocked"]}))
    url = f"sqlite:///{tmp / 'parlay.db'}"
    server = start_api(
        "serve",
        tmp,
        url,
        command="serve",
        sandbox_channels="inapp,sms,wa",
        # Slow enough that a page shows the sends before they happen, then their change.
        sandbox_delay_ms=2500,
        sandbox_script=str(script),
        log_json="false",
    )
    try:
        wait_ready([server])
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, _create_account(url)).result()
        login = httpx.post(
            f"{server.url}/api/account/{ACCOUNT}/login",
            json={"username": "admin", "password": TEST_PASSWORD},
        )
        assert login.status_code == 200, login.text
        yield LiveParlay(server, login.json()["accessToken"])
    finally:
        stop([server])


@pytest.fixture
def laptop(page: Page) -> Page:
    page.set_viewport_size(LAPTOP)
    return page


def _api(live: LiveParlay, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.request(
        method,
        f"{live.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {live.admin_token}"},
    )
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def _skill(live: LiveParlay, name: str) -> str:
    httpx.post(
        f"{live.url}/api/account/{ACCOUNT}/skills",
        json={"name": name},
        headers={"Authorization": f"Bearer {live.admin_token}"},
    )
    return name


def _handoff(live: LiveParlay, channel: dict[str, Any], skill: str) -> str:
    made = _api(live, "POST", f"/api/account/{ACCOUNT}/handoffs", handoff(channel, skill=skill))
    handoff_id: str = made["id"]
    return handoff_id


def _campaign(
    live: LiveParlay, handoff_id: str, skill: str, consumers: list[Any], **more: Any
) -> str:
    body = {
        "campaignName": f"{skill} campaign",
        "skill": skill,
        "templateId": handoff_id,
        "consent": True,
        "consumers": consumers,
        **more,
    }
    campaign_id: str = _api(live, "POST", f"/api/v2/account/{ACCOUNT}/campaign", body)[
        "proactiveCampaignId"
    ]
    return campaign_id


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _count(page: Page, status: str) -> Any:
    return page.locator(f'#campaign-counts dd[data-status="{status}"]')


def test_a_csv_campaign_shows_its_bad_row_before_sending_and_its_counts_change_live(
    laptop: Page, live_sending: LiveParlay
) -> None:
    page, live = laptop, live_sending
    skill = _skill(live, "spring")
    _handoff(live, wa_channel(), skill)
    sign_in(page, live, live.user(Role.CAMPAIGN_MANAGER))
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Campaign name").fill("Spring sale")
    page.get_by_label("Handoff").select_option(index=1)
    page.get_by_label("Skill").select_option(skill)
    rows = "phone\n+14155552671\n12345\n+14155550100\n"
    page.get_by_label("CSV file").set_input_files(
        {"name": "spring.csv", "mimeType": "text/csv", "buffer": rows.encode()}
    )
    page.get_by_role("button", name="Check recipients").click()
    problems = page.get_by_role("table", name="Rows with a problem")
    expect(problems.get_by_role("row").nth(1)).to_contain_text("3")
    expect(problems).to_contain_text("INVALID_NUMBER")
    _shot(page, "campaign-check")

    page.get_by_role("button", name="Send to 2 recipients").click()
    expect(page).to_have_url(re.compile(r"/app/campaigns/[0-9a-f-]{36}$"))
    page.evaluate("window.notReloaded = true")
    expect(_count(page, "SENT")).to_have_text("0")
    expect(_count(page, "SENT")).to_have_text("2", timeout=20_000)
    expect(page.locator("#campaign-counts .status")).to_have_text("FINISHED", timeout=20_000)
    assert page.evaluate("window.notReloaded") is True
    _shot(page, "campaign-detail")
    if SHOTS:
        page.get_by_role("link", name="Campaigns").first.click()
        _shot(page, "campaigns")


def test_the_dashboard_shows_a_campaigns_known_outcomes(
    laptop: Page, live_sending: LiveParlay
) -> None:
    page, live = laptop, live_sending
    skill = _skill(live, "dashboard")
    handoff_id = _handoff(live, wa_channel(), skill)
    numbers = ["+14155550123", "+14155550124", SCRIPTED_REFUSAL]
    _campaign(live, handoff_id, skill, [{"consumerContent": {"wa": n}} for n in numbers])
    sign_in(page, live, live.user(Role.CAMPAIGN_MANAGER))
    page.goto(f"{live.url}/app/dashboard")
    page.get_by_label("Skill").select_option(skill)
    page.get_by_role("button", name="Show").click()
    funnel = page.get_by_role("table").first
    expect(funnel.get_by_role("row", name=re.compile("^Attempted"))).to_contain_text("3")
    for _ in range(40):  # the sends take the sandbox's delay: look again until they are done
        if page.locator('td[data-stage="Sent"]').inner_text() == "2":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator('td[data-stage="Sent"]')).to_have_text("2")
    failures = page.get_by_role("region", name="Failures by reason")
    expect(failures.get_by_role("row", name=re.compile("PROVIDER_REJECTED"))).to_contain_text("1")
    _shot(page, "dashboard")


def test_a_campaign_is_cancelled_and_its_failures_retried_from_its_page(
    laptop: Page, live_sending: LiveParlay
) -> None:
    page, live = laptop, live_sending
    skill = _skill(live, "later")
    # Allowed to send only on a day three days away: the recipients wait, so it can be cancelled.
    day = (datetime.now(UTC) + timedelta(days=3)).strftime("%A").upper()
    waiting = _campaign(
        live,
        _handoff(live, wa_channel(), skill),
        skill,
        [{"consumerContent": {"wa": "+14155550125"}}],
        schedulingMetrics={
            "windows": [{"day": day, "startTime": {"hour": 10}, "endTime": {"hour": 11}}]
        },
    )
    # In-app consumers that never signed in: they fail for a reason a retry may fix.
    failing = _campaign(
        live,
        _handoff(live, inapp_channel(), skill),
        skill,
        [{"consumerContent": {"inapp": f"nobody-{i}"}} for i in range(2)],
    )
    sign_in(page, live, live.user(Role.CAMPAIGN_MANAGER))

    page.goto(f"{live.url}/app/campaigns/{waiting}")
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.locator("#campaign-counts .status")).to_have_text("CANCELLED")
    expect(_count(page, "CANCELLED")).to_have_text("1")
    expect(page.get_by_role("button", name="Cancel campaign")).to_have_count(0)

    page.goto(f"{live.url}/app/campaigns/{failing}")
    expect(_count(page, "FAILED")).to_have_text("2", timeout=20_000)
    page.get_by_role("button", name="Retry failed").click()
    expect(page.get_by_role("status")).to_contain_text("2 failed recipient(s) queued again.")
    page.get_by_label("Recipient status").select_option("FAILED")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("cell", name="NEVER_LOGGED_IN", exact=False)).to_have_count(
        2, timeout=20_000
    )
