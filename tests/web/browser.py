"""A real Parlay server and a headless Chromium for the browser tests.

The browser is Debian's Chromium at /usr/bin/chromium, never one Playwright downloads (``make
test`` installs it when missing). Without it the browser tests are skipped on a laptop and fail
under ``CI=true``. The server is ``parlay api`` on a free loopback port, on SQLite: the pages
are the same on either database, and one keeps the suite lean.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from parlay.accounts.permissions import Role
from parlay.config import Settings
from parlay.lib.db.engine import Database
from parlay.seed import create_account_with_admin
from tests.conftest import IN_CI, TEST_PASSWORD, TEST_SECRET_KEY
from tests.servers import Server, start_api, stop, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
ACCOUNT = "acme"


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    how = (
        f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium "
        "(apt-get install --no-install-recommends chromium)"
    )
    if IN_CI:
        pytest.fail(f"{how} (CI=true: a missing browser is a failure)")
    pytest.skip(how)


@dataclass
class LiveParlay:
    """A running server with one account; ``user`` makes a staff user of any roles."""

    server: Server
    admin_token: str

    @property
    def url(self) -> str:
        return self.server.url

    def user(self, *roles: Role) -> str:
        username = f"{'-'.join(roles)}-{uuid.uuid4().hex[:6]}"
        response = httpx.post(
            f"{self.url}/api/account/{ACCOUNT}/users",
            json={"username": username, "password": TEST_PASSWORD, "roles": list(roles)},
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        assert response.status_code == 201, response.text
        return username


@pytest.fixture(scope="module")
def live_parlay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveParlay]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{tmp / 'parlay.db'}"
    server = start_api("web", tmp, url, log_json="false")
    try:
        wait_ready([server])
        # In a thread of its own: Playwright's sync API keeps an event loop on this one.
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


async def _create_account(url: str) -> None:
    db = Database(url)
    try:
        settings = Settings(database_url=url, secret_key=TEST_SECRET_KEY)
        await create_account_with_admin(db, settings, ACCOUNT, "Acme", "admin", TEST_PASSWORD)
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, live: LiveParlay, username: str, password: str = TEST_PASSWORD) -> None:
    """Fill the sign-in form as a person would: by its labels, then the button named Sign in."""
    page.goto(f"{live.url}/app/sign-in")
    page.get_by_label("Account ID").fill(ACCOUNT)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
