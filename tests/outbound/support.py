"""Helpers of the outbound tests: request bodies, seeded rows, and a driver for the dispatcher.

The dispatcher runs for real (``Container.start_dispatcher()`` on the sandbox channel) against a
``FrozenClock``: waiting is bounded polling of the database, and time only moves when a test
moves it, so backoff, quiet hours and lookbacks are crossed in milliseconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import and_, func, or_, select

from parlay.apps.models import Device
from parlay.bootstrap import Container
from parlay.campaigns.models import Campaign
from parlay.channels.sandbox import SandboxChannel
from parlay.consumers.models import Consumer, SmsOptOut
from parlay.conversations.models import Conversation
from parlay.delivery.models import Delivery
from parlay.delivery.status import PENDING
from parlay.dispatch.dispatcher import Dispatcher
from parlay.lib.clock import FrozenClock
from tests.conftest import Brand
from tests.handoffs.bodies import APP_ID, handoff

T = TypeVar("T")

# A Monday, 09:00 in San Francisco and 17:00 in London: inside every SMS window the tests use.
START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
# Valid mobile numbers (libphonenumber) whose time zone is known.
SF_MOBILE = "+14155552671"  # America/Los_Angeles
SF_MOBILE_2 = "+14155550100"
NY_MOBILE = "+12025550123"  # America/New_York
UK_LANDLINE = "+442079460000"  # valid, but a fixed line: no SMS
WAIT_SECONDS = 15.0
_PENDING = [s.value for s in PENDING]


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    what: str,
    timeout: float = WAIT_SECONDS,
    interval: float = 0.01,
) -> T:
    """Poll ``probe`` until ``until`` holds; fail with the last value after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        await asyncio.sleep(interval)


# --- request bodies ---------------------------------------------------------------------------


def sms(phone: str, **variables: str) -> dict[str, Any]:
    return _consumer({"sms": phone}, variables)


def wa(phone: str, **variables: str) -> dict[str, Any]:
    return _consumer({"wa": phone}, variables)


def inapp(consumer_id: str, **variables: str) -> dict[str, Any]:
    return _consumer({"inapp": consumer_id}, variables)


def _consumer(content: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"consumerContent": content}
    if variables:
        # Keyword arguments cannot be digits: v1="x" stands for {"1": "x"}.
        body["variables"] = {k.removeprefix("v"): v for k, v in variables.items()}
    return body


def campaign_body(
    handoff_id: str, consumers: Sequence[dict[str, Any]], **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaignName": "January renewals",
        "skill": "billing",
        "templateId": handoff_id,
        "consent": True,
        "consumers": list(consumers),
    }
    body.update(overrides)
    return body


# --- the engine under test ----------------------------------------------------------------------


@dataclass
class Outbound:
    """One brand, its API keys, the frozen clock and the sandbox channel behind the dispatcher."""

    brand: Brand
    container: Container
    clock: FrozenClock
    sandbox: SandboxChannel
    proactive: dict[str, str]
    c2m: dict[str, str]

    @property
    def client(self) -> httpx.AsyncClient:
        return self.brand.client

    @property
    def campaigns_url(self) -> str:
        return f"/api/v2/account/{self.brand.id}/campaign"

    def now(self) -> datetime:
        return self.clock.now()

    # --- HTTP --------------------------------------------------------------------------------

    async def handoff(self, *channels: dict[str, Any], **fields: Any) -> str:
        """Create a handoff through its API; return its ID."""
        response = await self.client.post(
            f"{self.brand.url}/handoffs",
            json=handoff(*channels, **fields),
            headers=self.brand.admin,
        )
        assert response.status_code == 201, response.text
        handoff_id: str = response.json()["id"]
        return handoff_id

    async def post_campaign(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            self.campaigns_url, json=body, headers={**self.proactive, **(headers or {})}
        )

    async def campaign(
        self, handoff_id: str, consumers: Sequence[dict[str, Any]], **overrides: Any
    ) -> dict[str, Any]:
        """Create a campaign (200 expected); return the response body."""
        response = await self.post_campaign(campaign_body(handoff_id, consumers, **overrides))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"{self.campaigns_url}/{campaign_id}", headers=self.proactive
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def campaign_reaches(self, campaign_id: str, status: str) -> dict[str, Any]:
        return await eventually(
            lambda: self.get_campaign(campaign_id),
            lambda c: c["campaignStatus"] == status,
            what=f"campaign {campaign_id} to be {status}",
        )

    async def eligibility(self, **fields: Any) -> httpx.Response:
        body = {"skill": "billing", "consumerPhoneNumber": SF_MOBILE, **fields}
        return await self.client.post(
            f"{self.brand.url}/eligibility?v=2.0", json=body, headers=self.c2m
        )

    async def eligible(self, **fields: Any) -> dict[str, Any]:
        response = await self.eligibility(**fields)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def invite(
        self, call_id: str, headers: dict[str, str] | None = None, **fields: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"{self.brand.url}/invite?v=2.0",
            json={"callId": call_id, **fields},
            headers={**self.c2m, **(headers or {})},
        )

    # --- rows the later APIs (consumers, conversations, SMS) will write -------------------------

    async def consumer(
        self, consumer_id: str | None = None, phone: str | None = None, *, logged_in: bool = True
    ) -> None:
        async with self.container.db.write() as session:
            session.add(
                Consumer(
                    account_id=self.brand.id,
                    consumer_id=consumer_id,
                    phone=phone,
                    created_at=self.now(),
                    first_login_at=self.now() if logged_in else None,
                )
            )

    async def device(
        self,
        consumer_id: str,
        *,
        app_id: str = APP_ID,
        token: str | None = "default",
        logged_in: bool = True,
        logout_mode: str | None = None,
        device_id: str | None = None,
    ) -> str:
        """Register a device (and log the consumer in, as registering does). Returns its token."""
        push_token = f"token-{consumer_id}-{uuid.uuid4().hex[:8]}" if token == "default" else token
        async with self.container.db.write() as session:
            known = await session.scalar(
                select(Consumer).where(
                    Consumer.account_id == self.brand.id, Consumer.consumer_id == consumer_id
                )
            )
            if known is None:
                session.add(
                    Consumer(
                        account_id=self.brand.id,
                        consumer_id=consumer_id,
                        created_at=self.now(),
                        first_login_at=self.now(),
                    )
                )
            session.add(
                Device(
                    account_id=self.brand.id,
                    consumer_id=consumer_id,
                    device_id=device_id or uuid.uuid4().hex,
                    app_id=app_id,
                    platform="ios",
                    push_service="apns",
                    push_token=push_token,
                    logged_in=logged_in,
                    logout_mode=logout_mode,
                    registered_at=self.now(),
                    updated_at=self.now(),
                )
            )
        return push_token or ""

    async def open_conversation(
        self, *, consumer_id: str | None = None, phone: str | None = None, channel: str = "sms"
    ) -> str:
        conversation_id = str(uuid.uuid4())
        async with self.container.db.write() as session:
            session.add(
                Conversation(
                    id=conversation_id,
                    account_id=self.brand.id,
                    consumer_id=consumer_id,
                    phone=phone,
                    channel=channel,
                    state="OPEN",
                    skill="billing",
                    created_at=self.now(),
                )
            )
        return conversation_id

    async def close_conversation(self, conversation_id: str) -> None:
        async with self.container.db.write() as session:
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None
            conversation.state = "CLOSED"
            conversation.closed_at = self.now()

    async def opt_out(self, phone: str) -> None:
        async with self.container.db.write() as session:
            session.add(SmsOptOut(account_id=self.brand.id, phone=phone, opted_out_at=self.now()))

    # --- reading the queue ----------------------------------------------------------------------

    async def deliveries(self, **where: Any) -> list[Delivery]:
        """Delivery rows of this brand (filtered by column values), oldest first."""
        query = select(Delivery).where(Delivery.account_id == self.brand.id)
        for column, value in where.items():
            query = query.where(getattr(Delivery, column) == value)
        async with self.container.db.read() as session:
            return list((await session.execute(query.order_by(Delivery.id))).scalars())

    async def delivery(self, **where: Any) -> Delivery:
        rows = await self.deliveries(**where)
        assert len(rows) == 1, rows
        return rows[0]

    async def count(self, campaign_id: str) -> int:
        async with self.container.db.read() as session:
            total = await session.scalar(
                select(func.count()).where(Delivery.campaign_id == campaign_id)
            )
        return int(total or 0)

    async def campaign_row(self, campaign_id: str) -> Campaign:
        async with self.container.db.read() as session:
            campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign

    # --- driving the dispatcher -----------------------------------------------------------------

    def start(self) -> Dispatcher:
        return self.container.start_dispatcher()

    async def _busy(self) -> int:
        """Pending deliveries the dispatcher should be working on at the clock's current time."""
        now = self.now()
        dispatcher = self.container.dispatcher
        assert dispatcher is not None, "start the dispatcher first"
        free = or_(Delivery.lease_until.is_(None), Delivery.lease_until < now)
        mine = Delivery.lease_owner.like(f"{dispatcher.worker_id}:%")
        async with self.container.db.read() as session:
            busy = await session.scalar(
                select(func.count()).where(
                    Delivery.account_id == self.brand.id,
                    Delivery.status.in_(_PENDING),
                    or_(and_(free, Delivery.next_attempt_at <= now), mine),
                )
            )
        return int(busy or 0)

    async def settle(self, timeout: float = WAIT_SECONDS, interval: float = 0.01) -> None:
        """Wait until everything due now has been tried and its outcome recorded."""
        await eventually(
            self._busy, lambda n: n == 0, what="due deliveries", timeout=timeout, interval=interval
        )

    async def next_due(self) -> datetime | None:
        now = self.now()
        async with self.container.db.read() as session:
            due: datetime | None = await session.scalar(
                select(func.min(Delivery.next_attempt_at)).where(
                    Delivery.account_id == self.brand.id,
                    Delivery.status.in_(_PENDING),
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
            )
        return due

    async def run_until_done(self, max_steps: int = 50) -> None:
        """Settle, then jump the clock to the next due attempt, until nothing is pending."""
        for _ in range(max_steps):
            await self.settle()
            due = await self.next_due()
            if due is None:
                return
            self.advance_to(due)
        raise AssertionError(f"deliveries still pending after {max_steps} clock jumps")

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def advance_to(self, moment: datetime) -> None:
        if moment > self.now():
            self.clock.advance(moment - self.now())
