"""Agents' and bots' messages reach a consumer whose app is in the background as pushes.

The rule: a message of an agent or a bot in an in-app conversation with a consumer ID becomes a
push (``backendService`` ``ams``, the conversation's ID and the text). It is a delivery of the
in-app channel, queued in the priority lane in the same unit of work as the message, so the
message and its push commit together and the dispatcher sends, retries and records it like any
delivery. At send time the dispatcher picks the devices (``eligibility.rules.
conversation_push_targets``): each device whose logout type takes agent messages, except those
holding a live stream, which showed the message already.

System messages (welcome, transfer note) and the consumer's own are not pushed.

In an SMS or WhatsApp conversation the brand's messages go to the number instead, as deliveries
of that channel (``lifecycle.add_conversation_text``), queued the same way. WhatsApp takes free
text only within 24 hours of the consumer's last message: an answer after that is refused (409,
``WHATSAPP_WINDOW_CLOSED``) before anything is written, since only an approved template could
reach them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.channels.whatsapp import in_window
from parlay.consumers.models import WhatsAppWindow
from parlay.conversations.models import Conversation, Message
from parlay.delivery import lifecycle
from parlay.delivery.queue import WorkQueued
from parlay.lib.db.uow import UnitOfWork
from parlay.lib.errors import Conflict

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


def is_texted(conversation: Conversation, sender: str) -> bool:
    """Whether the brand's message goes to the consumer's number (SMS, WhatsApp)."""
    return (
        sender in PUSHED_SENDERS
        and conversation.channel in ("sms", "wa")
        and conversation.phone is not None
    )


async def check_can_write(uow: UnitOfWork, conversation: Conversation, sender: str) -> None:
    """Before the message is added: a WhatsApp answer needs the 24-hour window open."""
    if is_texted(conversation, sender) and conversation.channel == "wa":
        assert conversation.phone is not None
        last = await last_inbound(uow.session, conversation.account_id, conversation.phone)
        if not in_window(last, uow.now):
            raise Conflict(
                "the WhatsApp 24-hour window is closed: the consumer last wrote more than 24 "
                "hours ago, and WhatsApp takes only approved templates until they write again",
                extra={"reason": "WHATSAPP_WINDOW_CLOSED"},
            )


async def last_inbound(session: AsyncSession, account_id: str, phone: str) -> datetime | None:
    """When the number last wrote on WhatsApp (None: never)."""
    return await session.scalar(
        select(WhatsAppWindow.last_inbound_at).where(
            WhatsAppWindow.account_id == account_id, WhatsAppWindow.phone == phone
        )
    )


async def push_message(uow: UnitOfWork, conversation: Conversation, message: Message) -> None:
    """Queue the push of ``message`` (already flushed: it has its ID), if the rule pushes it;
    in an SMS or WhatsApp conversation, its send to the consumer's number."""
    if is_texted(conversation, message.sender):
        assert conversation.phone is not None
        await lifecycle.add_conversation_text(
            uow.session,
            lifecycle.ConversationText(
                account_id=conversation.account_id,
                channel=conversation.channel,
                phone=conversation.phone,
                conversation_id=conversation.id,
                message_id=message.id,
                text=message.text,
                skill=conversation.skill,
                valid_seconds=int(PUSH_VALID_FOR.total_seconds()),
            ),
            uow.now,
        )
        uow.emit(WorkQueued(priority=True))
        return
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
