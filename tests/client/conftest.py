"""A live Parlay for the client and command tests: one ``parlay serve`` (API and dispatcher, the
sandbox channel for every channel) per test module on a SQLite file, and an account per test.

The client speaks HTTP only, so what it does is the same on either database: these tests run on
SQLite alone.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from parlay.config import Settings
from parlay.lib.db.engine import Database
from parlay.seed import create_account_with_admin, create_api_key
from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY
from tests.servers import Server, start_api, stop, wait_ready

SCOPES = ("proactive", "handoffs:read", "c2m", "reporting", "webhooks")
# A WhatsApp template with one variable: the sandbox sends it at any hour (an SMS would wait
# for the recipient's quiet hours to end).
WA_HANDOFF = {
    "name": "renewal",
    "channels": [
        {
            "type": "wa",
            "outboundNumber": "+14155550100",
            "templateName": "renewal",
            "templateLanguage": "en",
            "templateVariables": 1,
        }
    ],
}


@dataclass(frozen=True)
class Brand:
    """An account on the live server: its admin, an API key of every brand scope, the skill
    ``general`` and a WhatsApp handoff."""

    url: str
    account_id: str
    api_key: str
    admin_password: str
    handoff_id: str

    def admin_token(self) -> str:
        response = httpx.post(
            f"{self.url}/api/account/{self.account_id}/login",
            json={"username": "admin", "password": self.admin_password},
        )
        response.raise_for_status()
        token: str = response.json()["accessToken"]
        return token

    def set_rate_limit(self, per_second: int, admin_token: str | None = None) -> None:
        """The account's budget of every API family (requests per second)."""
        limits = dict.fromkeys(("c2m", "proactive", "reporting", "consumer"), per_second)
        response = httpx.put(
            f"{self.url}/api/account/{self.account_id}/settings",
            headers={"Authorization": f"Bearer {admin_token or self.admin_token()}"},
            json={"rateLimits": limits},
        )
        response.raise_for_status()


@dataclass
class Live:
    server: Server
    database_url: str
    names: Iterator[int]

    @property
    def url(self) -> str:
        return self.server.url

    def brand(self, *, rate_limit: int = 10_000) -> Brand:
        account_id = f"brand{next(self.names)}"
        settings = Settings(database_url=self.database_url, secret_key=TEST_SECRET_KEY)

        async def seed() -> str:
            db = Database(self.database_url, pool_size=1)
            try:
                await create_account_with_admin(
                    db, settings, account_id, account_id, "admin", TEST_PASSWORD
                )
                return await create_api_key(db, account_id, "tests", list(SCOPES))
            finally:
                await db.dispose()

        # In a thread: an async test calls this from inside its event loop.
        with ThreadPoolExecutor(1) as pool:
            key = pool.submit(asyncio.run, seed()).result()
        headers = {"Authorization": f"Bearer {key}"}
        base = f"{self.url}/api/account/{account_id}"
        token = Brand(self.url, account_id, key, TEST_PASSWORD, "").admin_token()
        admin = {"Authorization": f"Bearer {token}"}
        httpx.post(f"{base}/skills", headers=admin, json={"name": "general"}).raise_for_status()
        created = httpx.post(f"{base}/handoffs", headers=admin, json=WA_HANDOFF)
        created.raise_for_status()
        assert httpx.get(f"{base}/handoffs", headers=headers).status_code == 200
        brand = Brand(self.url, account_id, key, TEST_PASSWORD, created.json()["id"])
        brand.set_rate_limit(rate_limit, token)
        return brand


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("live")
    database_url = f"sqlite:///{tmp / 'parlay.db'}"
    server = start_api(
        "parlay",
        tmp,
        database_url,
        command="serve",
        sandbox_channels="inapp,sms,wa",
        allow_private_urls="true",
        worker_poll_interval_seconds=0.05,
        webhook_poll_interval_seconds=0.05,
    )
    try:
        wait_ready([server])
        yield Live(server, database_url, itertools.count(1))
    finally:
        stop([server])
