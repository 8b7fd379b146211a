"""Fixtures of the web tool's tests: a browser-like client on a loopback origin, signed in as a
user of any role; and (``browser.py``) a real server with Chromium."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from parlay.accounts import service as accounts
from parlay.app import create_app
from parlay.lib.clock import SystemClock
from tests.conftest import TEST_PASSWORD, Brand

# The browser fixtures, for every test module here (pytest allows pytest_plugins only at the
# root conftest).
from tests.web.browser import chromium, live_parlay, page  # noqa: F401

ORIGIN = "http://127.0.0.1:8080"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebClient:
    """A client that behaves as a browser on our pages: keeps cookies, sends its Origin."""

    brand: Brand
    http: httpx.AsyncClient

    async def new_user(self, *roles: str) -> str:
        username = f"web-{'-'.join(roles)}-{uuid.uuid4().hex[:6]}"
        async with self.brand.container.db.write() as session:
            await accounts.create_user(
                session,
                self.brand.id,
                username=username,
                password=TEST_PASSWORD,
                roles=list(roles),
                now=SystemClock().now(),
            )
        return username

    async def sign_in(self, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
        form = {"account_id": self.brand.id, "username": username, "password": password}
        return await self.http.post("/app/sign-in", data=form)

    async def signed_in_as(self, *roles: str) -> str:
        """Sign in as a new user holding ``roles``; the CSRF token of its pages."""
        response = await self.sign_in(await self.new_user(*roles))
        assert response.status_code == 303, response.text
        return await self.csrf_token()

    async def csrf_token(self) -> str:
        home = await self.http.get("/app/")
        assert home.status_code == 200, home.text
        found = _CSRF.search(home.text)
        assert found is not None
        return found.group(1)


@pytest.fixture
async def web(brand: Brand) -> AsyncIterator[WebClient]:
    transport = httpx.ASGITransport(app=create_app(brand.container.services))
    async with httpx.AsyncClient(
        transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
    ) as http:
        yield WebClient(brand, http)
