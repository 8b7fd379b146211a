"""The admin pages in a real browser (Chromium) against a real server: one test per behaviour.

With ``PARLAY_SCREENSHOTS=docs/img`` the tests also save the screenshots the docs show (laptop
width): ``make screenshots``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize, expect

from parlay.accounts.permissions import Role
from tests.web.browser import ACCOUNT, LiveParlay, sign_in

LAPTOP: ViewportSize = {"width": 1280, "height": 800}


def _screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("PARLAY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_handoff_rule_is_shown_beside_its_own_field(page: Page, live_parlay: LiveParlay) -> None:
    page.set_viewport_size(LAPTOP)
    sign_in(page, live_parlay, live_parlay.user(Role.CAMPAIGN_MANAGER))
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Handoffs").click()
    page.get_by_role("link", name="New handoff").click()
    page.get_by_label("Name", exact=True).fill("WhatsApp invite")
    page.get_by_label("Send a WhatsApp message").check()
    page.get_by_label("WhatsApp message text").fill("Hello from Acme: reply to chat with us.")
    page.get_by_role("button", name="Create handoff").click()

    template = page.get_by_label("Template name")
    expect(template).to_have_attribute("aria-invalid", "true")
    expect(template).to_have_attribute("aria-describedby", re.compile(r"wa_template_name-error"))
    expect(page.locator("#wa_template_name-error")).to_contain_text("approved template")
    # What was typed is kept.
    expect(page.get_by_label("Name", exact=True)).to_have_value("WhatsApp invite")
    template.scroll_into_view_if_needed()
    _screenshot(page, "web-handoff-inline-error.png")

    template.fill("acme_invite")
    page.get_by_label("Template language").fill("en_US")
    page.get_by_role("button", name="Create handoff").click()
    expect(page.get_by_role("link", name="WhatsApp invite")).to_be_visible()


def test_each_role_is_offered_and_opens_only_its_pages(page: Page, live_parlay: LiveParlay) -> None:
    sign_in(page, live_parlay, live_parlay.user(Role.CAMPAIGN_MANAGER))
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link", name="Handoffs")).to_be_visible()
    expect(nav.get_by_role("link", name="API keys")).to_have_count(0)
    page.goto(f"{live_parlay.url}/app/apikeys")
    expect(page.get_by_role("heading", name="API keys")).to_have_count(0)
    expect(page.get_by_text("may not open this page")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_parlay, live_parlay.user(Role.AGENT))
    expect(nav.get_by_role("link", name="Handoffs")).to_have_count(0)
    response = page.goto(f"{live_parlay.url}/app/handoffs")
    assert response is not None
    assert response.status == 403


def test_a_new_api_key_is_shown_once_and_stops_working_when_revoked(
    page: Page, live_parlay: LiveParlay
) -> None:
    page.set_viewport_size(LAPTOP)
    sign_in(page, live_parlay, live_parlay.user(Role.ADMIN))
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("IVR")
    page.get_by_label("handoffs:read").check()
    page.get_by_role("button", name="Create API key").click()

    shown = page.get_by_label("API key", exact=True)
    expect(shown).to_be_visible()
    key = shown.input_value()
    assert key
    _screenshot(page, "web-api-keys.png")
    page.get_by_role("button", name="Copy API key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    expect(page.get_by_role("cell", name="IVR", exact=True)).to_be_visible()
    api = f"{live_parlay.url}/api/account/{ACCOUNT}/handoffs"
    assert httpx.get(api, headers={"Authorization": f"Bearer {key}"}).status_code == 200

    page.reload()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_label("API key", exact=True)).to_have_count(0)
    assert key not in page.content()

    page.get_by_role("button", name="Revoke IVR").click()
    expect(page.get_by_text("API key “IVR” revoked")).to_be_visible()
    expect(page.get_by_role("cell", name="IVR", exact=True)).to_have_count(0)
    assert httpx.get(api, headers={"Authorization": f"Bearer {key}"}).status_code == 401
