"""The SMS and WhatsApp world of the end-to-end tests: a brand whose Twilio account and WhatsApp
number are the loopback fakes, the real API (in-process, at ``PUBLIC_URL``: the fakes post their
webhooks to it), the dispatcher and the real Twilio and WhatsApp channels. The clock is frozen
at a time when US numbers are inside the SMS hours and Australian ones are not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from parlay.app import create_app
from parlay.bootstrap import Container, build_container
from parlay.config import Settings
from parlay.delivery.models import Delivery
from parlay.delivery.status import PENDING
from parlay.lib.clock import FrozenClock
from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY, Brand, make_brand
from tests.fakes import twilio as twilio_fake
from tests.fakes import whatsapp as whatsapp_fake

PUBLIC_URL = "http://parlay.test"
ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "0f" * 16
SENDER = "+14155550199"
WA_NUMBER_ID = "106540352242922"
WA_TOKEN = "EAAG-system-user-token-0123456789"
WA_APP_SECRET = "meta-app-secret-42"
WA_VERIFY = "verify-me-please"
# 17:00 UTC: 09:00 in San Francisco and New York's noon (SMS hours), 04:00 in Sydney (not).
START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
SF_MOBILE = "+14155552671"
NY_MOBILE = "+12025550123"
SYDNEY_MOBILE = "+61412345678"
T = TypeVar("T")


@dataclass
class World:
    brand: Brand
    container: Container
    twilio: twilio_fake.TwilioFake
    whatsapp: whatsapp_fake.WhatsAppFake
    clock: FrozenClock

    @property
    def webhooks(self) -> str:
        return f"{PUBLIC_URL}/webhooks"

    async def handoff(self, *channels: dict[str, Any], skill: str = "billing") -> str:
        b = self.brand
        response = await b.client.post(
            f"{b.url}/handoffs",
            headers=b.admin,
            json={"name": f"handoff {time.monotonic_ns()}", "skill": skill, "channels": channels},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def campaign(self, handoff_id: str, *consumers: dict[str, Any]) -> str:
        b = self.brand
        response = await b.client.post(
            f"/api/v2/account/{b.id}/campaign",
            headers=b.admin,
            json={
                "campaignName": "January bills",
                "skill": "billing",
                "templateId": handoff_id,
                "consent": True,
                "consumers": list(consumers),
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["proactiveCampaignId"])

    async def deliveries(self, **where: Any) -> list[Delivery]:
        async with self.container.db.read() as session:
            query = select(Delivery).filter_by(**where).order_by(Delivery.id)
            return list((await session.execute(query)).scalars().all())

    async def settled(self, **where: Any) -> list[Delivery]:
        """The deliveries once none is waiting to be sent and every callback came back."""
        await until(
            lambda: self.deliveries(**where),
            lambda rows: bool(rows) and all(r.status not in PENDING for r in rows),
        )
        await self.twilio.settle()
        await self.whatsapp.settle()
        return await self.deliveries(**where)

    async def agent(self, skill: str = "billing") -> dict[str, str]:
        """An ONLINE agent of ``skill``: new conversations of it are assigned to them."""
        b = self.brand
        created = await b.client.post(
            f"{b.url}/users",
            headers=b.admin,
            json={
                "username": "ann",
                "password": TEST_PASSWORD,
                "roles": ["agent"],
                "skills": [skill],
            },
        )
        assert created.status_code == 201, created.text
        agent = b.auth(await b.login("ann"))
        online = await b.client.put(f"{b.url}/agent/state", headers=agent, json={"state": "ONLINE"})
        assert online.status_code == 200, online.text
        return agent


async def until(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 15
) -> T:
    """``read()`` again until ``done`` says so (the dispatcher and the fakes work meanwhile)."""
    deadline = time.monotonic() + seconds
    while True:
        value = await read()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    settings = Settings(
        database_url=database_url,
        sandbox_channels="inapp",
        public_url=PUBLIC_URL,
        allow_private_urls=True,  # the fakes listen on 127.0.0.1
        secret_key=TEST_SECRET_KEY,
        worker_backoff_base_seconds=0.05,
        worker_max_attempts=3,
        log_json=False,
    )
    clock = FrozenClock(START)
    container = build_container(settings, clock=clock)
    transport = httpx.ASGITransport(app=create_app(container.services))
    async with (
        httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client,
        twilio_fake.running(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, deliver=client) as tw,
        whatsapp_fake.running(
            phone_number_id=WA_NUMBER_ID,
            access_token=WA_TOKEN,
            app_secret=WA_APP_SECRET,
            deliver=client,
            webhook_url=f"{PUBLIC_URL}/webhooks/whatsapp/acme",
        ) as wa,
    ):
        brand = await make_brand(container, client, "acme")
        for path, body in (
            (
                "channels/sms",
                {
                    "accountSid": ACCOUNT_SID,
                    "authToken": AUTH_TOKEN,
                    "fromNumber": SENDER,
                    "maxMessagesPerSecond": 500,
                    "endpoint": tw.url,
                },
            ),
            (
                "channels/wa",
                {
                    "phoneNumberId": WA_NUMBER_ID,
                    "accessToken": WA_TOKEN,
                    "appSecret": WA_APP_SECRET,
                    "verifyToken": WA_VERIFY,
                    "endpoint": wa.url,
                },
            ),
        ):
            response = await client.put(f"{brand.url}/{path}", headers=brand.admin, json=body)
            assert response.status_code == 200, response.text
        container.start_dispatcher()
        try:
            yield World(brand, container, tw, wa, clock)
        finally:
            await container.close()
