"""Scaled out: the workspace page on one ``parlay api`` process, the consumer on another, one
PostgreSQL database and Redis between them; each hears the other live."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Page, expect

from tests.conftest import REDIS_URL, TEST_PASSWORD, unavailable
from tests.conversations.test_live import _brand_with_an_agent
from tests.fakes.jwks import SigningKey
from tests.servers import Server, start_api, stop, wait_ready
from tests.web.browser import require_chromium

LIVE = 15_000  # ms


@pytest.fixture
def two_servers(postgres_database: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    require_chromium()
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except (OSError, redis.RedisError) as exc:
        unavailable("Redis", exc)
    servers = [
        start_api(name, tmp_path, postgres_database, redis_url=REDIS_URL, log_json="false")
        for name in ("a", "b")
    ]
    try:
        wait_ready(servers)
        yield servers[0], servers[1]
    finally:
        stop(servers)


class _Heard:
    """A consumer's live stream read in a thread: what it has heard so far."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.text = ""
        self.opened = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=30) as response:
                self._response = response
                self.opened.set()
                for chunk in response.iter_text():
                    self.text += chunk
        except (httpx.HTTPError, RuntimeError, ValueError):
            return  # closed by ``close``

    def wait_for(self, words: str, timeout: float = LIVE / 1000) -> bool:
        deadline = threading.Event()
        for _ in range(int(timeout * 20)):
            if words in self.text:
                return True
            deadline.wait(0.05)
        return words in self.text

    def close(self) -> None:
        if self._response is not None:
            self._response.close()


def test_an_agent_on_one_process_and_a_consumer_on_another_hear_each_other_live(
    page: Page, two_servers: tuple[Server, Server], postgres_database: str
) -> None:
    a, b = two_servers
    key = SigningKey.ec()
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps a loop on this one
        account_id, username = thread.submit(
            asyncio.run, _brand_with_an_agent(postgres_database, key)
        ).result()
    consumer = {"Authorization": f"Bearer {key.token('ana')}"}
    base = f"/api/account/{account_id}/consumer"

    page.goto(f"{a.url}/app/sign-in?next=/app/workspace")
    page.get_by_label("Account ID").fill(account_id)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#workspace[data-live=true]")).to_have_count(1, timeout=LIVE)
    page.get_by_role("button", name="Online").click()
    expect(page.locator("#my-state")).to_have_text("ONLINE")

    # The consumer writes to B: the conversation appears in the page served by A.
    written = httpx.post(f"{b.url}{base}/messages", json={"text": "written to B"}, headers=consumer)
    assert written.status_code == 201, written.text
    mine = page.locator("#my-conversations a").first
    expect(mine).to_be_visible(timeout=LIVE)
    mine.click()
    expect(page.locator("#thread")).to_contain_text("written to B")

    heard = _Heard(f"{b.url}{base}/events", consumer)
    try:
        assert heard.opened.wait(10)
        # A second message to B reaches the open conversation on A without a reload.
        again = httpx.post(f"{b.url}{base}/messages", json={"text": "still on B"}, headers=consumer)
        assert again.status_code == 201, again.text
        expect(page.locator("#thread")).to_contain_text("still on B", timeout=LIVE)
        # The agent answers on A; the consumer's stream on B hears it.
        page.get_by_label("Reply").fill("answered on A")
        page.get_by_role("button", name="Send").click()
        assert heard.wait_for("answered on A"), heard.text
        page.get_by_role("button", name="Close conversation").click()
        assert heard.wait_for("conversation.closed"), heard.text
    finally:
        heard.close()
        page.goto("about:blank")  # the page's stream ends before the servers stop
