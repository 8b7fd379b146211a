"""The web tool in a real browser (Chromium) against a real server: one test per behaviour."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from parlay.accounts.permissions import Role
from tests.web.browser import LiveParlay, sign_in


def test_a_user_signs_in_and_a_wrong_password_shows_an_error(
    page: Page, live_parlay: LiveParlay
) -> None:
    username = live_parlay.user(Role.ADMIN)
    sign_in(page, live_parlay, username, "not the password")
    password = page.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-error")).to_contain_text("wrong")

    sign_in(page, live_parlay, username)
    expect(page).to_have_url(re.compile(r"/app/$"))
    expect(page.get_by_role("banner")).to_contain_text(username)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))


def test_an_admin_creates_a_skill_and_sees_an_invalid_name_beside_the_field(
    page: Page, live_parlay: LiveParlay
) -> None:
    sign_in(page, live_parlay, live_parlay.user(Role.ADMIN))
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Skills").click()
    page.get_by_label("Name").fill("   ")
    page.get_by_role("button", name="Create skill").click()
    name = page.get_by_label("Name")
    expect(name).to_have_attribute("aria-describedby", "name-error")
    expect(page.locator("#name-error")).to_contain_text("without spaces")

    name.fill("billing-web")
    page.get_by_role("button", name="Create skill").click()
    expect(page.get_by_role("cell", name="billing-web")).to_be_visible()


def test_an_agent_is_refused_adding_a_skill_and_is_not_offered_the_form(
    page: Page, live_parlay: LiveParlay
) -> None:
    sign_in(page, live_parlay, live_parlay.user(Role.AGENT))
    page.goto(f"{live_parlay.url}/app/skills")
    expect(page.get_by_role("heading", name="Skills")).to_be_visible()
    expect(page.get_by_role("button", name="Create skill")).to_have_count(0)
    # The form's action, sent from the page by a script with the page's own token: still refused.
    status = page.evaluate(
        """async () => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const body = new URLSearchParams({name: 'x', csrf_token: token});
            return (await fetch('/app/skills', {method: 'POST', body})).status;
        }"""
    )
    assert status == 403
