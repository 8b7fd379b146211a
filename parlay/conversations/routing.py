"""A consumer writes (SPEC §9): continue their open conversation, or open one and route it.

The routing rule, exactly: with no open conversation, the consumer's most recent outbound
message on this channel decides. If its lookback has not ended and no conversation came of it
yet, the new conversation is attributed to it — routed to its skill (the campaign's or call's
``skill``, else the handoff's), the outbound message becomes the first message, the delivery
becomes REPLIED with ``conversationCreatedTime``, and no welcome message is sent. Otherwise
(no delivery at all, lookback over, or its conversation already closed) the conversation goes
to the account's default skill, unattributed, with the welcome message if enabled.

``routeAllWithinLookback: false`` on the handoff narrows attribution to consumers who opened
the push (the delivery is READ); with the default ``true`` any message within the lookback is
attributed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import Account
from parlay.consumers.models import Consumer
from parlay.conversations.assignment import assign_waiting, enqueue
from parlay.conversations.context import (
    campaign_context,
    consumer_context,
    pick_device,
)
from parlay.conversations.models import Conversation, Message
from parlay.conversations.topics import (
    Outbox,
    agent_topic,
    consumer_topic,
    supervisor_topic,
)
from parlay.errors import invalid_field
from parlay.outbound.context import ContextCache, SendContext, message_text
from parlay.outbound.models import Call, Delivery
from parlay.outbound.status import DeliveryStatus, statuses_before

OPEN, CLOSED = "OPEN", "CLOSED"


@dataclass(frozen=True)
class Written:
    conversation: Conversation
    message: Message
    opened: bool  # this message opened the conversation


def message_view(m: Message) -> dict[str, Any]:
    return {"id": str(m.id), "sender": m.sender, "text": m.text, "time": m.created_at}


def add_message(
    session: AsyncSession,
    conversation: Conversation,
    sender: str,
    text: str,
    now: datetime,
    *,
    agent_id: int | None = None,
    delivery_id: int | None = None,
) -> Message:
    message = Message(
        account_id=conversation.account_id,
        conversation_id=conversation.id,
        sender=sender,
        agent_id=agent_id,
        delivery_id=delivery_id,
        text=text,
        created_at=now,
    )
    session.add(message)
    conversation.last_message_at = now
    return message


async def open_conversation_of(
    session: AsyncSession, account_id: str, consumer_id: str | None, phone: str | None
) -> Conversation | None:
    """The consumer's open conversation on any channel, across their linked identities."""
    who = []
    if consumer_id:
        who.append(Conversation.consumer_id == consumer_id)
    if phone:
        who.append(Conversation.phone == phone)
    if not who:
        return None
    return await session.scalar(
        select(Conversation)
        .where(Conversation.account_id == account_id, Conversation.state == OPEN, or_(*who))
        .order_by(Conversation.created_at)
        .limit(1)
    )


async def latest_delivery(
    session: AsyncSession, account_id: str, channel: str, consumer_id: str | None, phone: str | None
) -> Delivery | None:
    """The most recent outbound message that reached the consumer on ``channel``."""
    who = []
    if consumer_id and channel == "inapp":
        who.append(Delivery.consumer_id == consumer_id)
    if phone and channel != "inapp":
        who.append(Delivery.phone == phone)
    if not who:
        return None
    return await session.scalar(
        select(Delivery)
        .where(
            Delivery.account_id == account_id,
            Delivery.channel == channel,
            or_(*who),
            Delivery.sent_time.is_not(None),
            Delivery.superseded_by.is_(None),
        )
        .order_by(Delivery.sent_time.desc(), Delivery.id.desc())
        .limit(1)
    )


def attributable(delivery: Delivery, send: SendContext | None, now: datetime) -> bool:
    """Whether a new conversation belongs to ``delivery`` (see the module's rule)."""
    if delivery.sent_time is None or delivery.conversation_id is not None:
        return False
    if delivery.status not in statuses_before(DeliveryStatus.REPLIED):
        return False
    if delivery.sent_time + timedelta(seconds=delivery.lookback_seconds) <= now:
        return False
    route_all = True if send is None else bool(send.handoff.get("routeAllWithinLookback", True))
    return route_all or delivery.read_time is not None


async def consumer_writes(
    session: AsyncSession,
    *,
    account_id: str,
    consumer_id: str,
    channel: str,
    text: str,
    device_id: str | None,
    now: datetime,
    contexts: ContextCache,
    outbox: Outbox,
) -> Written:
    """Add the consumer's message to their open conversation, opening and routing one if none."""
    consumer = await session.scalar(
        select(Consumer).where(
            Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
        )
    )
    phone = consumer.phone if consumer else None
    for _ in range(2):
        conversation = await open_conversation_of(session, account_id, consumer_id, phone)
        if conversation is not None:
            message = add_message(session, conversation, "consumer", text, now)
            await session.flush()
            _tell_agents(conversation, message, outbox)
            return Written(conversation, message, opened=False)
        try:
            async with session.begin_nested():
                return await _open(
                    session,
                    account_id=account_id,
                    consumer_id=consumer_id,
                    phone=phone,
                    channel=channel,
                    text=text,
                    device_id=device_id,
                    now=now,
                    contexts=contexts,
                    outbox=outbox,
                )
        except IntegrityError:
            # Another first message of this consumer opened one a moment ago: write into it.
            outbox.items.clear()
            continue
    raise RuntimeError("the consumer's open conversation vanished twice")  # pragma: no cover


async def _open(
    session: AsyncSession,
    *,
    account_id: str,
    consumer_id: str,
    phone: str | None,
    channel: str,
    text: str,
    device_id: str | None,
    now: datetime,
    contexts: ContextCache,
    outbox: Outbox,
) -> Written:
    account = await session.get(Account, account_id)
    assert account is not None
    device = await pick_device(session, account_id, consumer_id, device_id)
    if device_id is not None and device is None:
        raise invalid_field("deviceId", f"no device {device_id!r} of this consumer")
    delivery = await latest_delivery(session, account_id, channel, consumer_id, phone)
    send: SendContext | None = None
    call: Call | None = None
    if delivery is not None:
        send = (await contexts.for_deliveries(session, [delivery])).get(delivery.id)
        if delivery.call_id:
            call = await session.get(Call, delivery.call_id)
    # The delivery this conversation answers, if the rule attributes it to one.
    origin = delivery if delivery is not None and attributable(delivery, send, now) else None
    conversation = Conversation(
        id=str(uuid.uuid4()),
        account_id=account_id,
        consumer_id=consumer_id,
        phone=phone,
        channel=channel,
        state=OPEN,
        skill=origin.skill if origin else account.default_skill,
        created_at=now,
        delivery_id=origin.id if origin else None,
        source=origin.source if origin else None,
        context={
            "campaign": campaign_context(origin, send) if origin and send else None,
            "consumer": consumer_context(consumer_id, phone, device, call if origin else None),
        },
    )
    session.add(conversation)
    await session.flush()  # the one-open-conversation indexes answer here
    if origin is not None:
        assert origin.sent_time is not None
        outbound = (
            message_text(send, channel, origin.message_text, origin.variables) if send else ""
        )
        add_message(
            session, conversation, "outbound", outbound, origin.sent_time, delivery_id=origin.id
        )
        await session.execute(
            update(Delivery)
            .where(
                Delivery.id == origin.id,
                Delivery.status.in_(statuses_before(DeliveryStatus.REPLIED)),
            )
            .values(
                status=DeliveryStatus.REPLIED.value,
                conversation_id=conversation.id,
                conversation_created_time=now,
            )
            .execution_options(synchronize_session=False)
        )
    message = add_message(session, conversation, "consumer", text, now)
    welcome = None
    if origin is None and account.welcome_enabled and account.welcome_text:
        welcome = add_message(session, conversation, "system", account.welcome_text, now)
    enqueue(conversation, now, outbox)
    await session.flush()
    if welcome is not None:
        outbox.add(
            [consumer_topic(account_id, consumer_id, phone)],
            {
                "type": "message",
                "conversationId": conversation.id,
                "message": message_view(welcome),
            },
        )
    await assign_waiting(session, account_id, now, outbox)
    _tell_agents(conversation, message, outbox)
    return Written(conversation, message, opened=True)


def _tell_agents(conversation: Conversation, message: Message, outbox: Outbox) -> None:
    topics = [supervisor_topic(conversation.account_id)]
    if conversation.assigned_agent_id is not None:
        topics.append(agent_topic(conversation.account_id, conversation.assigned_agent_id))
    outbox.add(
        topics,
        {
            "type": "conversation.message",
            "conversationId": conversation.id,
            "message": message_view(message),
        },
    )
