"""Webhooks: the account's subscriptions to status events. Subscribing shows the signing secret
once; a subscription's page shows its last delivery attempts, sends a test event and enables
it again after Parlay disabled it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from parlay.accounts.permissions import Permission
from parlay.api.schemas.webhooks import WebhookIn
from parlay.lib.errors import ParlayError
from parlay.web.auth import Viewer, page, services_of
from parlay.web.pages.formdata import chosen, optional, refusal, text, top_level, validation_errors
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render
from parlay.webhooks import usecases
from parlay.webhooks.events import FAMILIES, PATTERNS
from parlay.webhooks.service import SubscriptionView
from parlay.webhooks.usecases import SubscriptionSpec

router = APIRouter()

# Families first (every event of a kind), then each event type.
EVENT_CHOICES = [(p, f"{p} (every {p.split('.')[0]} event)") for p in sorted(FAMILIES)] + [
    (p, p) for p in sorted(PATTERNS - FAMILIES)
]
_namer = top_level({"url", "events", "description"})


async def _list_page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    views = await usecases.list_subscriptions(services_of(request).tx, viewer.principal.account_id)
    context = {
        "webhooks": views,
        "events": EVENT_CHOICES,
        "values": values or {"events": []},
        "errors": errors or {},
        "created": created,
        "deleted": request.query_params.get("deleted"),
    }
    return render(request, "webhooks/list.html", context, status=status)


@router.get("/webhooks", name="web_webhooks")
async def webhooks(
    request: Request, viewer: Annotated[Viewer, page(Permission.WEBHOOKS_MANAGE)]
) -> Response:
    return await _list_page(request, viewer)


@router.post("/webhooks", name="web_create_webhook")
async def create_webhook(
    request: Request, viewer: Annotated[Viewer, page(Permission.WEBHOOKS_MANAGE)]
) -> Response:
    """Subscribe; the signing secret is in this answer only."""
    form = await request.form()
    values = {
        "url": text(form, "url").strip(),
        "events": chosen(form, "events"),
        "description": optional(form, "description"),
    }
    try:
        body = WebhookIn.model_validate(values)
    except ValidationError as exc:
        errors = validation_errors(exc, _namer)
        return await _list_page(request, viewer, values=values, errors=errors, status=400)
    s = services_of(request)
    spec = SubscriptionSpec(body.url, body.events, body.description)
    try:
        created = await usecases.create_subscription(
            s.tx, s.urls, s.secrets, viewer.principal.account_id, spec
        )
    except ParlayError as exc:
        errors = refusal(exc, _namer)
        return await _list_page(request, viewer, values=values, errors=errors, status=exc.status)
    shown = {**asdict(created.subscription), "secret": created.secret}
    return await _list_page(request, viewer, created=shown, status=201)


async def _detail_page(
    request: Request,
    viewer: Viewer,
    webhook_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    view: SubscriptionView = await usecases.get_subscription(tx, account_id, webhook_id)
    attempts = await usecases.list_attempts(tx, account_id, webhook_id)
    context = {
        "webhook": view,
        "attempts": attempts,
        "error": error,
        "done": request.query_params.get("done"),
    }
    return render(request, "webhooks/detail.html", context, status=status)


@router.get("/webhooks/{webhook_id}", name="web_webhook")
async def webhook(
    request: Request, webhook_id: int, viewer: Annotated[Viewer, page(Permission.WEBHOOKS_MANAGE)]
) -> Response:
    return await _detail_page(request, viewer, webhook_id)


def _done(webhook_id: int, what: str) -> Response:
    query = urlencode({"done": what})
    return RedirectResponse(f"{WEB_ROOT}/webhooks/{webhook_id}?{query}", status_code=303)


@router.post("/webhooks/{webhook_id}/test", name="web_test_webhook")
async def test_webhook(
    request: Request, webhook_id: int, viewer: Annotated[Viewer, page(Permission.WEBHOOKS_MANAGE)]
) -> Response:
    """Queue a signed ``ping``; its attempt shows in the log. Refused while disabled."""
    try:
        await usecases.send_test(services_of(request).tx, viewer.principal.account_id, webhook_id)
    except ParlayError as exc:
        if exc.status == 404:
            raise
        return await _detail_page(request, viewer, webhook_id, error=exc.detail, status=exc.status)
    return _done(webhook_id, "test")


@router.post("/webhooks/{webhook_id}/enable", name="web_enable_webhook")
async def enable_webhook(
    request: Request, webhook_id: int, viewer: Annotated[Viewer, page(Permission.WEBHOOKS_MANAGE)]
) -> Response:
    """Active again: the events it kept are sent."""
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    await usecases.enable_subscription(tx, account_id, webhook_id)
    return _done(webhook_id, "enabled")


@router.post("/webhooks/{webhook_id}/delete", name="web_delete_webhook")
async def delete_webhook(
    request: Request, webhook_id: int, viewer: Annotated[Viewer, page(Permission.WEBHOOKS_MANAGE)]
) -> Response:
    """Unsubscribe: its undelivered events are dropped."""
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    view = await usecases.get_subscription(tx, account_id, webhook_id)
    await usecases.delete_subscription(tx, account_id, webhook_id)
    query = urlencode({"deleted": view.url})
    return RedirectResponse(f"{WEB_ROOT}/webhooks?{query}", status_code=303)
