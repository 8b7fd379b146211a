"""The webhook use cases, one unit of work each: what the subscriptions API may ask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parlay.lib.db.uow import Transactions
from parlay.lib.errors import invalid_field
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.secretbox import SecretBox
from parlay.webhooks import outbox, service
from parlay.webhooks.events import PING, unknown_patterns
from parlay.webhooks.models import WebhookAttempt
from parlay.webhooks.service import SubscriptionView


@dataclass(frozen=True)
class WebhooksQueued:
    """A signal: events were written to the outbox; a relay of this process looks now."""


@dataclass(frozen=True)
class SubscriptionSpec:
    url: str
    events: Sequence[str]
    description: str | None


@dataclass(frozen=True)
class Created:
    subscription: SubscriptionView
    secret: str  # in clear, this once


async def create_subscription(
    tx: Transactions, urls: UrlPolicy, box: SecretBox, account_id: str, spec: SubscriptionSpec
) -> Created:
    unknown = unknown_patterns(spec.events)
    if unknown:
        raise invalid_field("events", f"unknown event types {unknown}")
    url = await urls.check("url", spec.url)  # may resolve names: no transaction open yet
    async with tx.write() as uow:
        view, secret = await service.create(
            uow.session,
            box,
            account_id,
            url=url,
            events=spec.events,
            description=spec.description,
            now=uow.now,
        )
    return Created(view, secret)


async def list_subscriptions(tx: Transactions, account_id: str) -> list[SubscriptionView]:
    async with tx.read() as uow:
        return await service.list_all(uow.session, account_id)


async def get_subscription(
    tx: Transactions, account_id: str, subscription_id: int
) -> SubscriptionView:
    async with tx.read() as uow:
        return await service.get(uow.session, account_id, subscription_id)


async def delete_subscription(tx: Transactions, account_id: str, subscription_id: int) -> None:
    async with tx.write() as uow:
        await service.remove(uow.session, account_id, subscription_id)


async def enable_subscription(
    tx: Transactions, account_id: str, subscription_id: int
) -> SubscriptionView:
    async with tx.write() as uow:
        view = await service.enable(uow.session, account_id, subscription_id, uow.now)
        uow.emit(WebhooksQueued())
    return view


async def send_test(tx: Transactions, account_id: str, subscription_id: int) -> str:
    """Queue a ``ping`` event to the subscription; its ID. The attempt shows in its attempts."""
    async with tx.write() as uow:
        await service.require_active(uow.session, account_id, subscription_id)
        event_id = await outbox.enqueue_event(
            uow.session,
            account_id,
            PING,
            {"subscriptionId": subscription_id},
            uow.now,
            subscription_id=subscription_id,
        )
        uow.emit(WebhooksQueued())
    assert event_id is not None
    return event_id


async def list_attempts(
    tx: Transactions, account_id: str, subscription_id: int
) -> list[WebhookAttempt]:
    async with tx.read() as uow:
        return await service.attempts(uow.session, account_id, subscription_id)
