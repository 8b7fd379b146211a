"""API shapes of status webhooks. The signing secret goes out once, at creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel
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
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="https, on a public address (checked when saved and on every connection).",
    )
    events: list[EventPattern] = Field(min_length=1, max_length=len(PATTERNS))
    description: str | None = Field(default=None, max_length=255)


class WebhookOut(ResponseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    state: Literal["active", "disabled"]
    disabled_reason: str | None = Field(description="Why it was disabled (null when active).")
    disabled_at: datetime | None
    created_at: datetime
    pending_events: int = Field(description="Events written and not yet delivered.")


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every event (X-Parlay-Signature). Shown only in this response."
    )


class WebhookList(ResponseModel):
    webhooks: list[WebhookOut]


class WebhookTestQueued(ResponseModel):
    event_id: str = Field(description="The ping's event ID; its attempt shows in `attempts`.")


class WebhookAttemptOut(ResponseModel):
    event_id: str
    event_type: str
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    latency_ms: int
    error: str | None = Field(description="null when delivered (any 2xx).")
    succeeded: bool


class WebhookAttemptList(ResponseModel):
    attempts: list[WebhookAttemptOut] = Field(description="The last 100, newest first.")
