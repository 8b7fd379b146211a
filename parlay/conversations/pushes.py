"""Agents' and bots' messages reach a consumer whose app is in the background as pushes.

The rule: a message of an agent or a bot in an in-app conversation with a consumer ID becomes a
push (``backendService`` ``ams``, the conversation's ID and the text). It is a delivery of the
in-app channel, queued in the priority lane in the same unit of work as the message, so the
message and its push commit together and the dispatcher sends, retries and records it like any
delivery. At send time the dispatcher picks the devices (``eligibility.rules.
conversation_push_targets``): each device whose logout type takes agent messages, except those
holding a live stream, which showed the message already.

System messages (welcome, transfer note) and the consumer's own are not pushed; SMS and WhatsApp
conversations have no devices.
"""

from __future__ import annotations

from datetime import timedelta

from parlay.conversations.models import Conversation, Message
from parlay.delivery import lifecycle
from parlay.delivery.queue import WorkQueued
from parlay.lib.db.uow import UnitOfWork

# Who is pushed: the brand's side of the conversation, people and bots alike.
PUSHED_SENDERS = frozenset({"agent", "bot"})
# A push not sent within this long expires: an answer arriving an hour late is stale, and the
# consumer finds it in the conversation when they next open the app.
PUSH_VALID_FOR = timedelta(hours=1)


def is_pushed(conversation: Conversation, message: Message) -> bool:
    return (
        message.sender in PUSHED_SENDERS
        and conversation.channel == "inapp"
        and conversation.consumer_id is not None
    )


async def push_message(uow: UnitOfWork, conversation: Conversation, message: Message) -> None:
    """Queue the push of ``message`` (already flushed: it has its ID), if the rule pushes it."""
    if not is_pushed(conversation, message):
        return
    assert conversation.consumer_id is not None
    await lifecycle.add_conversation_push(
        uow.session,
        lifecycle.ConversationPush(
            account_id=conversation.account_id,
            consumer_id=conversation.consumer_id,
            conversation_id=conversation.id,
            message_id=message.id,
            text=message.text,
            skill=conversation.skill,
            valid_seconds=int(PUSH_VALID_FOR.total_seconds()),
        ),
        uow.now,
    )
    uow.emit(WorkQueued(priority=True))
