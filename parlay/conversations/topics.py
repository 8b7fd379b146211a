"""Who hears what: the live-event topics of one account, and the events conversations announce.

Events are emitted in the unit of work that caused them and published only once it committed (a
subscriber that reloads on an event must find the change), best-effort: the database stays the
source of truth, and a client that missed events reloads ``GET conversations`` /
``GET conversation``.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from typing import Any

from parlay.channels.base import OutboundMessage
from parlay.conversations.models import Conversation, Message
from parlay.lib.events.live import LiveEvent


def agent_topic(account_id: str, user_id: int) -> str:
    """Events for one agent or bot: conversations assigned to them, their consumers' messages."""
    return f"{account_id}:agent:{user_id}"


def skill_topic(account_id: str, skill: str | None) -> str:
    """Queue changes of one skill (``-`` is the queue of conversations without a skill)."""
    return f"{account_id}:skill:{skill or '-'}"


def supervisor_topic(account_id: str) -> str:
    """Everything agent managers watch: every queue and every conversation's activity."""
    return f"{account_id}:supervisor"


def consumer_topic(account_id: str, consumer_id: str | None, phone: str | None) -> str:
    """Events for one consumer's app: agent, bot and system messages, and closure."""
    return f"{account_id}:consumer:" + (f"c:{consumer_id}" if consumer_id else f"p:{phone}")


def consumer_topics(account_id: str, consumer_id: str, phone: str | None) -> list[str]:
    """What a consumer's live stream listens to: their in-app identity and their number."""
    topics = [consumer_topic(account_id, consumer_id, None)]
    if phone:
        topics.append(consumer_topic(account_id, None, phone))
    return topics


def device_presence(account_id: str, consumer_id: str, device_id: str) -> str:
    """The presence key of one device of a consumer: held while a live stream opened with its
    ``deviceId`` is open. (JSON, so that no consumer or device ID can spell another's key.)"""
    return json.dumps([account_id, consumer_id, device_id], separators=(",", ":"))


def message_json(m: Message) -> dict[str, Any]:
    """A message as the API and the live streams write it."""
    return {"id": str(m.id), "sender": m.sender, "text": m.text, "time": m.created_at}


def message_added(conversation: Conversation, message: Message) -> LiveEvent:
    """The consumer hears a message of the brand (agent, bot, system)."""
    return LiveEvent.of(
        [consumer_topic(conversation.account_id, conversation.consumer_id, conversation.phone)],
        {"type": "message", "conversationId": conversation.id, "message": message_json(message)},
    )


def conversation_message(conversation: Conversation, message: Message) -> LiveEvent:
    """The assigned agent (and the managers) hear a message of the conversation."""
    topics = [supervisor_topic(conversation.account_id)]
    if conversation.assigned_agent_id is not None:
        topics.append(agent_topic(conversation.account_id, conversation.assigned_agent_id))
    return LiveEvent.of(
        topics,
        {
            "type": "conversation.message",
            "conversationId": conversation.id,
            "message": message_json(message),
        },
    )


def _shown(message: OutboundMessage) -> str | None:
    """The topic an accepted outbound message is shown on, if it is shown at all."""
    if message.consumer_id and message.payload.campaign_info is not None:
        return consumer_topic(message.account_id, message.consumer_id, None)
    return None


def shown_topics(messages: Sequence[OutboundMessage]) -> list[str]:
    """The topics ``outbound_shown`` would announce these messages on."""
    return [topic for m in messages if (topic := _shown(m)) is not None]


def outbound_shown(
    messages: Sequence[OutboundMessage], listened: Container[str] | None = None
) -> list[LiveEvent]:
    """Outbound in-app messages the provider accepted: the consumer's app, if open and
    streaming, shows them at once (``pending-outbound`` has them all anyway). A conversation's
    push is not announced: its message reached the stream as a ``message`` event already.
    ``listened``: only the messages whose topic is among these."""
    events = []
    for m in messages:
        topic = _shown(m)
        if topic is not None and (listened is None or topic in listened):
            events.append(LiveEvent.of([topic], {"type": "outbound", **m.payload.to_json()}))
    return events
