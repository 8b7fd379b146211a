"""API shapes of status webhooks. The signing secret goes out once, at creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, examples
from parlay.webhooks.events import PATTERNS

EventPattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        description="An event type (`delivery.sent`) or a family (`delivery.*`, "
        "`conversation.*`): " + ", ".join(f"`{p}`" for p in sorted(PATTERNS)),
    ),
]


class WebhookIn(RequestModel):
    model_config = examples(
        {
            "url": "https://hooks.acme.example/parlay",
            "events": ["delivery.*", "conversation.created"],
            "description": "Data warehouse",
        }
    )

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="https, on a public address (checked when saved and on every connection).",
    )
    events: list[EventPattern] = Field(
        min_length=1, max_length=len(PATTERNS), description="The events it receives."
    )
    description: str | None = Field(
        default=None, max_length=255, description="What it is for; omitted: none."
    )


_WEBHOOK = {
    "id": 4,
    "url": "https://hooks.acme.example/parlay",
    "events": ["delivery.*", "conversation.created"],
    "description": "Data warehouse",
    "state": "active",
    "disabledReason": None,
    "disabledAt": None,
    "createdAt": "2026-01-05T17:00:00Z",
    "pendingEvents": 0,
}


class WebhookOut(ResponseModel):
    model_config = examples(_WEBHOOK)

    id: int = Field(description="The webhook's numeric ID.")
    url: str = Field(description="Where events are POSTed.")
    events: list[str] = Field(description="The event types and families it receives.")
    description: str | None = Field(description="What it is for.")
    state: Literal["active", "disabled"] = Field(
        description="active, or disabled (after failing for too long, or by an admin)."
    )
    disabled_reason: str | None = Field(description="Why it was disabled (null when active).")
    disabled_at: datetime | None = Field(description="When it was disabled (UTC).")
    created_at: datetime = Field(description="When it was created (UTC).")
    pending_events: int = Field(description="Events written and not yet delivered.")


class WebhookCreated(WebhookOut):
    model_config = examples(
        {**_WEBHOOK, "secret": "whsec_9pX2mQ7rT4vB1nK8sD3fG6hJq0LwE5yU2iO7aZ4xC1v"}
    )

    secret: str = Field(
        description="Signs every event (X-Parlay-Signature). Shown only in this response."
    )


class WebhookList(ResponseModel):
    model_config = examples({"webhooks": [_WEBHOOK]})

    webhooks: list[WebhookOut] = Field(description="Every webhook of the account.")


class WebhookTestQueued(ResponseModel):
    model_config = examples({"eventId": "evt_5d0c2e9b7f1a4c6e8b3d2a1f0e9c8b7a"})

    event_id: str = Field(description="The ping's event ID; its attempt shows in `attempts`.")


class WebhookAttemptOut(ResponseModel):
    event_id: str = Field(description="The event's ID (the same on every retry).")
    event_type: str = Field(
        description="delivery.sent, conversation.created, ..., or ping (a test)."
    )
    attempted_at: datetime = Field(description="When it was POSTed (UTC).")
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    latency_ms: int = Field(description="Milliseconds until the answer (or the failure).")
    error: str | None = Field(description="null when delivered (any 2xx).")
    succeeded: bool = Field(description="Whether the receiver answered 2xx.")


class WebhookAttemptList(ResponseModel):
    model_config = examples(
        {
            "attempts": [
                {
                    "eventId": "evt_5d0c2e9b7f1a4c6e8b3d2a1f0e9c8b7a",
                    "eventType": "ping",
                    "attemptedAt": "2026-01-05T17:00:01Z",
                    "statusCode": 200,
                    "latencyMs": 84,
                    "error": None,
                    "succeeded": True,
                }
            ]
        }
    )

    attempts: list[WebhookAttemptOut] = Field(description="The last 100, newest first.")
