"""A delivery's full current state as Parlay tells it to a brand (the ``data`` of a status
webhook's delivery event)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.delivery.models import Delivery

# (JSON name, column), in the order they are written.
_FIELDS = (
    ("deliveryId", Delivery.id),
    ("sequence", Delivery.version),
    ("source", Delivery.source),
    ("channel", Delivery.channel),
    ("status", Delivery.status),
    ("proactiveCampaignId", Delivery.campaign_id),
    ("callId", Delivery.call_id),
    ("handOffId", Delivery.handoff_id),
    ("skill", Delivery.skill),
    ("consumerId", Delivery.consumer_id),
    ("consumerPhoneNumber", Delivery.phone),
    ("conversationId", Delivery.conversation_id),
    ("errorCode", Delivery.error_code),
    ("errorMessage", Delivery.error_message),
    ("errorSource", Delivery.error_source),
    ("providerMessageId", Delivery.provider_message_id),
    ("supersededBy", Delivery.superseded_by),
    ("attempts", Delivery.attempts),
    ("attemptedTime", Delivery.attempted_time),
    ("scheduledTime", Delivery.scheduled_time),
    ("sentTime", Delivery.sent_time),
    ("deliveredTime", Delivery.delivered_time),
    ("readTime", Delivery.read_time),
    ("failedTime", Delivery.failed_time),
    ("skippedTime", Delivery.skipped_time),
    ("expiredTime", Delivery.expired_time),
    ("cancelledTime", Delivery.cancelled_time),
    ("conversationCreatedTime", Delivery.conversation_created_time),
    ("conversationClosedTime", Delivery.conversation_closed_time),
)
_NAMES = tuple(name for name, _ in _FIELDS)


def _json(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


async def delivery_states(session: AsyncSession, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each delivery's current state by ID (camelCase JSON; times in ISO 8601 UTC).
    ``sequence`` is the number of changes recorded so far: a receiver keeps the highest."""
    if not ids:
        return {}
    result = await session.execute(
        select(*(column for _, column in _FIELDS)).where(Delivery.id.in_(sorted(set(ids))))
    )
    states: dict[int, dict[str, Any]] = {}
    for row in result.all():
        state = {name: _json(value) for name, value in zip(_NAMES, row, strict=True)}
        states[state["deliveryId"]] = state
    return states
