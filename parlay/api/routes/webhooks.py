"""HTTP routes of status webhooks: a brand's systems (scope ``webhooks``) or an admin subscribe."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import Response

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath, IdPath
from parlay.api.schemas.webhooks import (
    WebhookAttemptList,
    WebhookAttemptOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookTestQueued,
)
from parlay.api.strict_json import api_router
from parlay.lib.ratelimit import ApiFamily
from parlay.webhooks import usecases
from parlay.webhooks.service import SubscriptionView
from parlay.webhooks.usecases import SubscriptionSpec

router = api_router(prefix="/api/account/{accountId}/webhooks", tags=["webhooks"])
CONFIG = ApiFamily.CONFIG
Manager = Annotated[Principal, require(Permission.WEBHOOKS_MANAGE, CONFIG)]


def _out(view: SubscriptionView) -> WebhookOut:
    return WebhookOut.model_validate(asdict(view))


@router.post("", operation_id="createWebhook", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    accountId: AccountIdPath, body: WebhookIn, s: ServicesDep, me: Manager
) -> WebhookCreated:
    """Subscribe a URL to events. The signing secret is in this response only."""
    spec = SubscriptionSpec(body.url, body.events, body.description)
    created = await usecases.create_subscription(s.tx, s.urls, s.secrets, me.account_id, spec)
    return WebhookCreated(**asdict(created.subscription), secret=created.secret)


@router.get("", operation_id="listWebhooks", response_model=WebhookList)
async def list_webhooks(accountId: AccountIdPath, s: ServicesDep, me: Manager) -> WebhookList:
    """The account's subscriptions (never their secrets)."""
    views = await usecases.list_subscriptions(s.tx, me.account_id)
    return WebhookList(webhooks=[_out(v) for v in views])


@router.get("/{webhookId}", operation_id="getWebhook", response_model=WebhookOut)
async def get_webhook(
    accountId: AccountIdPath, webhookId: IdPath, s: ServicesDep, me: Manager
) -> WebhookOut:
    """One subscription: active, or disabled and why, and how many events wait."""
    return _out(await usecases.get_subscription(s.tx, me.account_id, webhookId))


@router.delete("/{webhookId}", operation_id="deleteWebhook", status_code=204)
async def delete_webhook(
    accountId: AccountIdPath, webhookId: IdPath, s: ServicesDep, me: Manager
) -> Response:
    """Unsubscribe: its undelivered events are dropped."""
    await usecases.delete_subscription(s.tx, me.account_id, webhookId)
    return Response(status_code=204)


@router.post("/{webhookId}/enable", operation_id="enableWebhook", response_model=WebhookOut)
async def enable_webhook(
    accountId: AccountIdPath, webhookId: IdPath, s: ServicesDep, me: Manager
) -> WebhookOut:
    """Active again after it was disabled: the events it kept are sent, new ones written."""
    return _out(await usecases.enable_subscription(s.tx, me.account_id, webhookId))


@router.post(
    "/{webhookId}/test",
    operation_id="testWebhook",
    status_code=202,
    response_model=WebhookTestQueued,
    responses=problems(409),
)
async def test_webhook(
    accountId: AccountIdPath, webhookId: IdPath, s: ServicesDep, me: Manager
) -> WebhookTestQueued:
    """Send a signed `ping` event to the URL; the attempt shows in `attempts`. 409 when the
    subscription is disabled."""
    return WebhookTestQueued(event_id=await usecases.send_test(s.tx, me.account_id, webhookId))


@router.get("/{webhookId}/attempts", operation_id="listWebhookAttempts")
async def list_webhook_attempts(
    accountId: AccountIdPath, webhookId: IdPath, s: ServicesDep, me: Manager
) -> WebhookAttemptList:
    """The last 100 attempts to deliver its events: status, latency, error."""
    attempts = await usecases.list_attempts(s.tx, me.account_id, webhookId)
    return WebhookAttemptList(attempts=[WebhookAttemptOut.model_validate(a) for a in attempts])
