"""The whole loop in a real browser against ``parlay serve --demo`` (SQLite): a campaign reaches
the demo phone through the push proxy, the consumer taps and replies, the agent answers from
the workspace, transfers, and an agent manager who sees every queue and every agent's load
closes it; each side sees the other's changes without a reload."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.conftest import TEST_PASSWORD
from tests.servers import Server, start_api, stop, wait_ready
from tests.web.browser import require_chromium

# Set to a folder (docs/img) to keep screenshots of the pages for the docs.
SCREENSHOTS = os.environ.get("PARLAY_DOCS_SCREENSHOTS")
LIVE = 15_000  # ms: a change reaches the other tab well within this on a loaded machine


@dataclass
class Demo:
    server: Server
    api_key: str
    admin_token: str

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.request(method, f"{self.url}/api/account/demo{path}", headers=headers, **kw)  # type: ignore[arg-type]

    def user(self, username: str, roles: list[str], skills: list[str]) -> None:
        body = {"username": username, "password": TEST_PASSWORD, "roles": roles, "skills": skills}
        response = self.api("POST", "/users", json=body)
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("demo")
    server = start_api(
        "demo",
        tmp,
        f"sqlite:///{tmp / 'parlay.db'}",
        command="serve --demo",
        log_json="false",
    )
    try:
        wait_ready([server])
        output = server.log.read_text()
        api_key = re.search(r"API key\s+(\S+)", output)
        login = re.search(r'"username": "admin", "password": "([^"]+)"', output)
        assert api_key is not None, output
        assert login is not None, output
        token = httpx.post(
            f"{server.url}/api/account/demo/login",
            json={"username": "admin", "password": login.group(1)},
        )
        assert token.status_code == 200, token.text
        yield Demo(server, api_key.group(1), token.json()["accessToken"])
    finally:
        stop([server])


def _sign_in(page: Page, demo: Demo, username: str) -> None:
    page.goto(f"{demo.url}/app/sign-in?next=/app/workspace")
    page.get_by_label("Account ID").fill("demo")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Workspace", exact=True)).to_be_visible()
    # Live: the page's event stream is open before anything happens.
    expect(page.locator("#workspace[data-live=true]")).to_have_count(1, timeout=LIVE)


def _shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_a_campaign_reaches_the_demo_phone_and_agent_and_consumer_talk_live(
    chromium: Browser, demo: Demo
) -> None:
    assert demo.api("POST", "/skills", json={"name": "billing"}).status_code == 201
    demo.user("alex", ["agent"], ["general"])
    demo.user("morgan", ["agent_manager"], [])
    tabs = [chromium.new_context(viewport={"width": w, "height": 900}) for w in (520, 1280, 1280)]
    try:
        _the_whole_loop(demo, *(tab.new_page() for tab in tabs))
    finally:
        for tab in tabs:  # their live streams end before the server stops
            tab.close()


def _the_whole_loop(demo: Demo, phone: Page, agent: Page, manager: Page) -> None:

    # The phone: a consumer opens the demo app; it registers as a device of theirs.
    phone.goto(f"{demo.url}/demo/phone")
    phone.get_by_label("Consumer ID").fill("ana")
    phone.get_by_role("button", name="Open the app").click()
    expect(phone.locator("#phone-status")).to_contain_text("registered", timeout=LIVE)

    # The agent goes online in the workspace.
    _sign_in(agent, demo, "alex")
    agent.get_by_role("button", name="Online").click()
    expect(agent.locator("#my-state")).to_have_text("ONLINE")

    # A campaign, as the README's curl sends it with the demo key.
    campaign = httpx.post(
        f"{demo.url}/api/v2/account/demo/campaign",
        json={
            "campaignName": "Spring sale",
            "skill": "general",
            "templateId": "demo-phone",
            "consent": True,
            "consumers": [{"consumerContent": {"inapp": "ana"}}],
        },
        headers={"Authorization": f"Bearer {demo.api_key}"},
    )
    assert campaign.status_code == 200, campaign.text

    # It arrives on the phone as a notification; tapping opens the chat with it.
    notification = phone.locator("#notifications button").first
    expect(notification).to_contain_text("news about your order", timeout=LIVE)
    _shot(phone, "demo-phone-notification.png")
    notification.click()
    expect(phone.locator("#chat-messages")).to_contain_text("news about your order")
    phone.get_by_label("Message").fill("Is my order late?")
    phone.get_by_role("button", name="Send").click()
    expect(phone.locator("#chat-messages")).to_contain_text("Is my order late?", timeout=LIVE)

    # The workspace lists it without a reload; the context panel says why it exists.
    mine = agent.locator("#my-conversations a").first
    expect(mine).to_be_visible(timeout=LIVE)
    mine.click()
    context = agent.locator("#context")
    expect(context.locator("#context-campaign")).to_have_text("Spring sale")
    expect(context.locator("#outbound-messages")).to_contain_text("news about your order")
    expect(context).to_contain_text("Demo phone")  # device model and engagement
    expect(agent.locator("#thread")).to_contain_text("Is my order late?")
    agent.get_by_role("button", name="Accept").click()
    expect(agent.get_by_role("button", name="Accept")).to_have_count(0)

    # Both ways, live: the agent's answer on the phone, the consumer's next message in the page.
    agent.get_by_label("Reply").fill("It ships tomorrow.")
    agent.get_by_role("button", name="Send").click()
    expect(phone.locator("#chat-messages")).to_contain_text("It ships tomorrow.", timeout=LIVE)
    # The thread's refresh never waits for the panels': with theirs held, the message still shows.
    held: list[Route] = []
    agent.route("**/workspace/panels", lambda route: held.append(route))
    phone.get_by_label("Message").fill("Thanks! Can I pay by card?")
    phone.get_by_role("button", name="Send").click()
    expect(agent.locator("#thread")).to_contain_text("pay by card", timeout=LIVE)
    for route in held:
        route.continue_()
    agent.unroute("**/workspace/panels")
    _shot(agent, "workspace.png")
    _shot(phone, "demo-phone-chat.png")

    # Transfer to billing: gone from the agent's list, the consumer told.
    agent.get_by_label("Transfer to skill").select_option("billing")
    agent.get_by_role("button", name="Transfer").click()
    expect(agent.locator("#conversation")).to_contain_text("Transferred to billing")
    expect(agent.locator("#my-conversations")).to_have_count(0, timeout=LIVE)
    expect(phone.locator("#chat-messages")).to_contain_text("transferred", timeout=LIVE)
    # The live refresh that took it off the list leaves the answer: why it left.
    expect(agent.locator("#conversation")).to_contain_text("Transferred to billing")

    # The manager sees the billing queue and every agent's state and load, and closes it.
    _sign_in(manager, demo, "morgan")
    expect(manager.locator("#agents")).to_contain_text("alex")
    alex = manager.locator("#agents tr", has_text="alex")
    expect(alex).to_contain_text("ONLINE")
    expect(alex).to_contain_text("0/3")
    waiting = manager.locator("#queue a", has_text="billing")
    expect(waiting).to_have_count(1)
    _shot(manager, "workspace-manager.png")
    waiting.click()
    manager.get_by_role("button", name="Close conversation").click()
    expect(manager.locator("#conversation-state")).to_have_text("CLOSED")
    expect(phone.locator("#chat-messages")).to_contain_text("Conversation closed", timeout=LIVE)
    expect(manager.locator("#queue")).to_have_count(0, timeout=LIVE)
