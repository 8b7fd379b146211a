"""``AsyncParlay``: the client for asyncio code. Every endpoint is a call of ``_calls.Calls``;
this class only sends them (with the credential, the retries and the paging of ``_core``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from parlay.client import types as t
from parlay.client._calls import Calls
from parlay.client._core import (
    Auth,
    BearerToken,
    Call,
    ClientCredentials,
    Page,
    RetryPolicy,
    TokenCache,
    answer,
    build,
    token_exchange,
)
from parlay.client.errors import TransportFailed

T = TypeVar("T")


class AsyncParlay:
    """One account of one Parlay: ``AsyncParlay(url, account, api_key=...)``."""

    def __init__(
        self,
        base_url: str,
        account_id: str,
        *,
        api_key: str | None = None,
        auth: Auth | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if auth is None and api_key is not None:
            auth = BearerToken(api_key)
        self.base_url = base_url
        self.account_id = account_id
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.calls = Calls(account_id)
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._tokens = TokenCache()
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Sending ------------------------------------------------------------------------------------

    async def _credential(self) -> str | None:
        if isinstance(self.auth, BearerToken):
            return self.auth.token
        if isinstance(self.auth, ClientCredentials):
            async with self._token_lock:
                cached = self._tokens.valid(time.monotonic())
                if cached is not None:
                    return cached
                token, expires_in = await self.run(token_exchange(self.account_id, self.auth))
                self._tokens.store(token, expires_in, time.monotonic())
                return token
        return None

    async def run(self, call: Call[T]) -> T:
        """Send ``call``: retried as ``retry`` allows, its answer parsed or raised as an error."""
        request, attempt, refreshed = call.request, 0, False
        while True:
            credential = await self._credential() if request.authenticated else None
            try:
                response = await self._http.send(build(self.base_url, request, credential))
                await response.aread()
            except httpx.TransportError as exc:
                wait = self.retry.after_error(attempt, request, exc)
                if wait is None:
                    raise TransportFailed(f"{request.method} {request.path}: {exc!r}") from exc
            else:
                if (
                    response.status_code == 401
                    and isinstance(self.auth, ClientCredentials)
                    and request.authenticated
                    and not refreshed
                ):
                    # The key token died early (its key rotated, the server restarted its
                    # clock): one fresh token, then the answer stands.
                    self._tokens.drop()
                    refreshed = True
                    continue
                wait = self.retry.after_response(attempt, request, response)
                if wait is None:
                    return answer(call, response)
            await asyncio.sleep(wait)
            attempt += 1

    async def pages(self, first: Callable[[str | None], Call[Page[T]]]) -> AsyncIterator[T]:
        """Every item of a cursor listing, fetching a page when the previous one is used up."""
        cursor: str | None = None
        while True:
            page = await self.run(first(cursor))
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # Campaigns ----------------------------------------------------------------------------------

    async def create_campaign(
        self,
        *,
        name: str,
        skill: str,
        handoff_id: str,
        consumers: Sequence[t.Consumer],
        message: str | None = None,
        outbound_number: str | None = None,
        windows: Sequence[dict[str, Any]] | None = None,
        list_accepted: bool = False,
        idempotency_key: str | None = None,
    ) -> t.CampaignAccepted:
        return await self.run(
            self.calls.create_campaign(
                name=name,
                skill=skill,
                handoff_id=handoff_id,
                consumers=consumers,
                message=message,
                outbound_number=outbound_number,
                windows=windows,
                list_accepted=list_accepted,
                idempotency_key=idempotency_key,
            )
        )

    async def append_consumers(
        self, campaign_id: str, consumers: Sequence[t.Consumer], *, list_accepted: bool = False
    ) -> t.CampaignAccepted:
        return await self.run(
            self.calls.append_consumers(campaign_id, consumers, list_accepted=list_accepted)
        )

    async def get_campaign(self, campaign_id: str) -> t.Campaign:
        return await self.run(self.calls.get_campaign(campaign_id))

    def campaigns(
        self,
        *,
        status: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[t.CampaignSummary]:
        """The account's campaigns, newest first, across every page."""
        return self.pages(
            lambda cursor: self.calls.campaign_page(
                cursor,
                status=status,
                created_after=created_after,
                created_before=created_before,
                limit=page_size,
            )
        )

    def recipients(
        self, campaign_id: str, *, status: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[t.Recipient]:
        """Every recipient of a campaign with its delivery status, across every page."""
        return self.pages(
            lambda cursor: self.calls.recipient_page(
                campaign_id, cursor, status=status, limit=page_size
            )
        )

    async def cancel_campaign(self, campaign_id: str) -> t.Campaign:
        return await self.run(self.calls.cancel_campaign(campaign_id))

    async def retry_failed(self, campaign_id: str) -> int:
        return await self.run(self.calls.retry_failed(campaign_id))

    # C2M ----------------------------------------------------------------------------------------

    async def check_eligibility(
        self,
        *,
        skill: str,
        phone: str,
        handoff_id: str,
        consumer_id: str | None = None,
        ivr_number: str | None = None,
        template_variables: dict[str, str] | None = None,
        sdes: list[dict[str, Any]] | None = None,
    ) -> t.Eligibility:
        return await self.run(
            self.calls.check_eligibility(
                skill=skill,
                phone=phone,
                handoff_id=handoff_id,
                consumer_id=consumer_id,
                ivr_number=ivr_number,
                template_variables=template_variables,
                sdes=sdes,
            )
        )

    async def send_invite(
        self,
        call_id: str,
        *,
        channel: str | None = None,
        skill: str | None = None,
        message: str | None = None,
        idempotency_key: str | None = None,
    ) -> t.Invite:
        return await self.run(
            self.calls.send_invite(
                call_id,
                channel=channel,
                skill=skill,
                message=message,
                idempotency_key=idempotency_key,
            )
        )

    async def get_invite(self, call_id: str) -> t.InviteState:
        return await self.run(self.calls.get_invite(call_id))

    # Handoffs -----------------------------------------------------------------------------------

    async def list_handoffs(self) -> list[t.Handoff]:
        return await self.run(self.calls.list_handoffs())

    async def get_handoff(self, handoff_id: str) -> t.Handoff:
        return await self.run(self.calls.get_handoff(handoff_id))

    async def create_handoff(
        self, handoff: t.HandoffIn, *, idempotency_key: str | None = None
    ) -> t.Handoff:
        return await self.run(self.calls.create_handoff(handoff, idempotency_key=idempotency_key))

    async def replace_handoff(self, handoff_id: str, handoff: t.HandoffIn) -> t.Handoff:
        return await self.run(self.calls.replace_handoff(handoff_id, handoff))

    async def delete_handoff(self, handoff_id: str) -> None:
        await self.run(self.calls.delete_handoff(handoff_id))

    # Skills and users ---------------------------------------------------------------------------

    async def list_skills(self) -> list[t.Skill]:
        return await self.run(self.calls.list_skills())

    async def create_skill(self, name: str) -> t.Skill:
        return await self.run(self.calls.create_skill(name))

    async def list_users(self) -> list[t.User]:
        return await self.run(self.calls.list_users())

    async def get_user(self, user_id: int) -> t.User:
        return await self.run(self.calls.get_user(user_id))

    async def create_user(
        self,
        *,
        username: str,
        password: str,
        roles: Sequence[str],
        type: str | None = None,
        skills: Sequence[str] | None = None,
        max_concurrent_conversations: int | None = None,
    ) -> t.User:
        return await self.run(
            self.calls.create_user(
                username=username,
                password=password,
                roles=roles,
                type=type,
                skills=skills,
                max_concurrent_conversations=max_concurrent_conversations,
            )
        )

    # Deliveries and webhooks --------------------------------------------------------------------

    async def get_delivery(self, delivery_id: str) -> t.Delivery:
        return await self.run(self.calls.get_delivery(delivery_id))

    async def create_webhook(
        self, url: str, events: Sequence[str], *, description: str | None = None
    ) -> t.WebhookCreated:
        return await self.run(self.calls.create_webhook(url, events, description=description))

    async def list_webhooks(self) -> list[t.Webhook]:
        return await self.run(self.calls.list_webhooks())

    async def get_webhook(self, webhook_id: int) -> t.Webhook:
        return await self.run(self.calls.get_webhook(webhook_id))

    async def delete_webhook(self, webhook_id: int) -> None:
        await self.run(self.calls.delete_webhook(webhook_id))

    async def enable_webhook(self, webhook_id: int) -> t.Webhook:
        return await self.run(self.calls.enable_webhook(webhook_id))

    async def test_webhook(self, webhook_id: int) -> str:
        return await self.run(self.calls.test_webhook(webhook_id))

    async def login(self, username: str, password: str) -> str:
        """Log a staff user in; from then on this client acts with the user's token."""
        token = await self.run(self.calls.login(username, password))
        self.auth = BearerToken(token["accessToken"])
        return token["accessToken"]
