"""A driver for the conversation tests: consumers write through the SDK's API, agents work
through the agent API, and the outbound engine sends real deliveries on the sandbox channel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from parlay.conversations.models import Conversation
from parlay.delivery.models import Delivery
from tests.conftest import TEST_PASSWORD, Brand
from tests.consumers.conftest import Sdk
from tests.handoffs.bodies import inapp_channel
from tests.outbound.support import Outbound, inapp


@dataclass
class AgentClient:
    """One agent, bot or agent manager, logged in, calling the agent API."""

    brand: Brand
    user_id: str
    username: str
    token: str

    @property
    def url(self) -> str:
        return f"{self.brand.url}/agent"

    @property
    def headers(self) -> dict[str, str]:
        return Brand.auth(self.token)

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.brand.client.request(
            method, f"{self.url}{path}", headers=self.headers, **kw
        )

    async def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = await self.call(method, path, **kw)
        assert response.status_code == status, response.text
        return response.json()

    async def state(self, state: str) -> Any:
        return await self.ok("PUT", "/state", json={"state": state})

    async def conversations(self) -> list[str]:
        body = await self.ok("GET", "/conversations")
        return [c["conversationId"] for c in body["conversations"]]

    async def queue(self) -> list[dict[str, Any]]:
        body = await self.ok("GET", "/queue")
        queue: list[dict[str, Any]] = body["queue"]
        return queue

    async def get(self, conversation_id: str) -> Any:
        return await self.ok("GET", f"/conversations/{conversation_id}")

    async def accept(self, conversation_id: str) -> httpx.Response:
        return await self.call("POST", f"/conversations/{conversation_id}/accept")

    async def reply(self, conversation_id: str, text: str) -> httpx.Response:
        return await self.call(
            "POST", f"/conversations/{conversation_id}/messages", json={"text": text}
        )

    async def transfer(self, conversation_id: str, skill: str) -> httpx.Response:
        return await self.call(
            "POST", f"/conversations/{conversation_id}/transfer", json={"skill": skill}
        )

    async def close(self, conversation_id: str) -> httpx.Response:
        return await self.call("POST", f"/conversations/{conversation_id}/close")


@dataclass
class Desk:
    """The brand, its outbound engine, its consumers' SDK and its agents."""

    brand: Brand
    outbound: Outbound
    sdk: Sdk
    _handoffs: dict[tuple[Any, ...], str] = field(default_factory=dict)

    # --- staff ---------------------------------------------------------------------------------

    async def agent(
        self,
        *skills: str,
        maximum: int = 3,
        type: str = "human",
        roles: tuple[str, ...] = ("agent",),
    ) -> AgentClient:
        username = f"{type}-{uuid.uuid4().hex[:8]}"
        response = await self.brand.client.post(
            f"{self.brand.url}/users",
            json={
                "username": username,
                "password": TEST_PASSWORD,
                "roles": list(roles),
                "type": type,
                "skills": list(skills),
                "maxConcurrentConversations": maximum,
            },
            headers=self.brand.admin,
        )
        assert response.status_code == 201, response.text
        user_id = str(response.json()["id"])
        return AgentClient(self.brand, user_id, username, await self.brand.login(username))

    async def settings(self, **fields: Any) -> None:
        response = await self.brand.client.put(
            f"{self.brand.url}/settings", json=fields, headers=self.brand.admin
        )
        assert response.status_code == 200, response.text

    # --- outbound ------------------------------------------------------------------------------

    async def handoff(self, **fields: Any) -> str:
        key = tuple(sorted(fields.items()))
        if key not in self._handoffs:
            self._handoffs[key] = await self.outbound.handoff(inapp_channel(), **fields)
        return self._handoffs[key]

    async def register(self, sub: str, **fields: Any) -> Any:
        """The consumer's iOS app registers (= logs in) with a push token of its own."""
        token = uuid.uuid5(uuid.NAMESPACE_OID, sub).hex * 2
        return await self.sdk.register(f"device-{sub}", sub, **{"pushToken": token, **fields})

    async def campaign_push(
        self, sub: str, *, handoff: dict[str, Any] | None = None, **campaign: Any
    ) -> Delivery:
        """A proactive campaign to ``sub`` in-app, sent; returns its delivery."""
        handoff_id = await self.handoff(**(handoff or {}))
        body = await self.outbound.campaign(handoff_id, [inapp(sub)], **campaign)
        await self.outbound.run_until_done()
        delivery = await self.outbound.delivery(campaign_id=body["proactiveCampaignId"])
        assert delivery.status == "SENT", (delivery.status, delivery.error_code)
        return delivery

    async def invite_push(self, sub: str, phone: str, **eligibility: Any) -> Delivery:
        """An IVR deflection of ``sub``'s call to the app, sent; returns its delivery."""
        handoff_id = await self.handoff()
        call = await self.outbound.eligible(
            handoffId=handoff_id, consumerPhoneNumber=phone, consumerId=sub, **eligibility
        )
        assert call["eligible"], call
        response = await self.outbound.invite(call["callId"])
        assert response.status_code == 200, response.text
        await self.outbound.run_until_done()
        delivery = await self.outbound.delivery(call_id=call["callId"])
        assert delivery.status == "SENT", (delivery.status, delivery.error_code)
        return delivery

    async def delivery(self, delivery_id: int) -> Delivery:
        async with self.brand.container.db.read() as session:
            row = await session.get(Delivery, delivery_id)
        assert row is not None
        return row

    def advance(self, **delta: float) -> None:
        self.outbound.advance(timedelta(**delta))

    # --- the consumer --------------------------------------------------------------------------

    async def write(self, sub: str, text: str, **fields: Any) -> httpx.Response:
        return await self.brand.client.post(
            f"{self.sdk.url}/messages", json={"text": text, **fields}, headers=self.sdk.headers(sub)
        )

    async def says(self, sub: str, text: str, **fields: Any) -> str:
        """The consumer writes; returns the conversation's ID."""
        response = await self.write(sub, text, **fields)
        assert response.status_code == 201, response.text
        conversation_id: str = response.json()["conversationId"]
        return conversation_id

    async def consumer_view(self, sub: str) -> httpx.Response:
        return await self.brand.client.get(
            f"{self.sdk.url}/conversation", headers=self.sdk.headers(sub)
        )

    async def conversation(self, conversation_id: str) -> Conversation:
        async with self.brand.container.db.read() as session:
            row = await session.get(Conversation, conversation_id)
        assert row is not None
        return row

    async def conversations(self) -> list[Conversation]:
        async with self.brand.container.db.read() as session:
            rows = await session.execute(
                select(Conversation)
                .where(Conversation.account_id == self.brand.id)
                .order_by(Conversation.created_at)
            )
            return list(rows.scalars())
