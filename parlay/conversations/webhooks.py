"""The status webhooks' conversation events, written in the unit of work of the change.

What a brand's bot or CRM needs to follow a conversation without holding a live stream:
``conversation.created`` (with the consumer's first message and the delivery it answers),
``conversation.message`` (every message of the consumer, an agent or a bot; Parlay's own notes,
the welcome and the transfer notice, are not sent), ``conversation.transferred`` (to another
skill) and ``conversation.closed``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parlay.conversations.models import Conversation, Message
from parlay.lib.db.uow import UnitOfWork
from parlay.webhooks.events import (
    CONVERSATION_CLOSED,
    CONVERSATION_CREATED,
    CONVERSATION_MESSAGE,
    CONVERSATION_TRANSFERRED,
)
from parlay.webhooks.outbox import enqueue_event


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def conversation_json(c: Conversation) -> dict[str, Any]:
    return {
        "conversationId": c.id,
        "consumerId": c.consumer_id,
        "consumerPhoneNumber": c.phone,
        "channel": c.channel,
        "skill": c.skill,
        "state": c.state,
        "assignedAgentId": c.assigned_agent_id,
        "deliveryId": c.delivery_id,
        "createdAt": _iso(c.created_at),
        "closedAt": _iso(c.closed_at),
        "closedBy": c.closed_by,
    }


def message_json(m: Message) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "sender": m.sender,
        "agentId": m.agent_id,
        "text": m.text,
        "time": _iso(m.created_at),
    }


async def _write(uow: UnitOfWork, c: Conversation, event_type: str, **extra: Any) -> None:
    data = {**conversation_json(c), **extra}
    await enqueue_event(uow.session, c.account_id, event_type, data, uow.now)


async def created(uow: UnitOfWork, c: Conversation, first: Message) -> None:
    await _write(uow, c, CONVERSATION_CREATED, message=message_json(first))


async def message(uow: UnitOfWork, c: Conversation, m: Message) -> None:
    await _write(uow, c, CONVERSATION_MESSAGE, message=message_json(m))


async def transferred(uow: UnitOfWork, c: Conversation, previous_agent_id: int | None) -> None:
    await _write(uow, c, CONVERSATION_TRANSFERRED, previousAgentId=previous_agent_id)


async def closed(uow: UnitOfWork, c: Conversation) -> None:
    await _write(uow, c, CONVERSATION_CLOSED)
