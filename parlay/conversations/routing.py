"""A consumer writes: continue their open conversation, or open one and route it.

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

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import Account
from parlay.consumers.models import Consumer
from parlay.conversations import topics, webhooks
from parlay.conversations.assignment import assign_waiting, enqueue
from parlay.conversations.context import (
    campaign_context,
    consumer_context,
    pick_device,
    stored_context,
)
from parlay.conversations.models import CLOSED, OPEN, Conversation, Message
from parlay.delivery import lifecycle
from parlay.delivery.models import Delivery
from parlay.delivery.origins import Origin, Origins, message_text
from parlay.delivery.status import OUTBOUND_SOURCES, DeliveryStatus, statuses_before
from parlay.lib.db.uow import UnitOfWork
from parlay.lib.errors import invalid_field

__all__ = ["CLOSED", "OPEN", "Written", "add_message", "consumer_writes"]


@dataclass(frozen=True)
class Written:
    conversation: Conversation
    message: Message
    opened: bool  # this message opened the conversation


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
    """The most recent outbound message that reached the consumer on ``channel`` (a push of a
    conversation's own message is none: a reply never answers it)."""
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
            Delivery.source.in_(OUTBOUND_SOURCES),
            Delivery.sent_time.is_not(None),
            Delivery.superseded_by.is_(None),
        )
        .order_by(Delivery.sent_time.desc(), Delivery.id.desc())
        .limit(1)
    )


def attributable(delivery: Delivery, origin: Origin | None, now: datetime) -> bool:
    """Whether a new conversation belongs to ``delivery`` (see the module's rule)."""
    if delivery.sent_time is None or delivery.conversation_id is not None:
        return False
    if delivery.status not in statuses_before(DeliveryStatus.REPLIED):
        return False
    if delivery.sent_time + timedelta(seconds=delivery.lookback_seconds) <= now:
        return False
    route_all = True if origin is None else origin.handoff.route_all_within_lookback
    return route_all or delivery.read_time is not None


async def consumer_writes(
    uow: UnitOfWork,
    *,
    account_id: str,
    consumer_id: str | None,
    channel: str,
    text: str,
    device_id: str | None,
    origins: Origins,
    phone: str | None = None,
) -> Written:
    """Add the consumer's message to their open conversation, opening and routing one if none.

    The consumer is known by ``consumer_id`` (in-app) or by ``phone`` (SMS, WhatsApp: the
    number that wrote); the other identity comes from the consumer's linked record, if any."""
    session = uow.session
    if consumer_id is not None:
        consumer = await session.scalar(
            select(Consumer).where(
                Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
            )
        )
        phone = consumer.phone if consumer else None
    else:
        consumer = await session.scalar(
            select(Consumer).where(Consumer.account_id == account_id, Consumer.phone == phone)
        )
        consumer_id = consumer.consumer_id if consumer else None
    for _ in range(3):
        conversation = await open_conversation_of(session, account_id, consumer_id, phone)
        if conversation is not None and not await _still_open(session, conversation):
            continue  # closed a moment ago (an agent's close committed): open a new one
        if conversation is not None:
            message = add_message(session, conversation, "consumer", text, uow.now)
            await session.flush()
            await webhooks.message(uow, conversation, message)
            uow.emit(topics.conversation_message(conversation, message))
            return Written(conversation, message, opened=False)
        try:
            async with uow.savepoint():
                return await _open(
                    uow,
                    account_id=account_id,
                    consumer_id=consumer_id,
                    phone=phone,
                    channel=channel,
                    text=text,
                    device_id=device_id,
                    origins=origins,
                )
        except IntegrityError:
            # Another first message of this consumer opened one a moment ago: write into it.
            continue
    raise RuntimeError("the consumer's open conversation vanished thrice")  # pragma: no cover


async def _still_open(session: AsyncSession, conversation: Conversation) -> bool:
    """Lock the conversation and read its state again. A close that committed since it was
    found shows now; one that comes later waits for this message and closes after it. Without
    the lock, a message racing a close could land in the closed conversation (PostgreSQL; SQLite
    writes are serial)."""
    state = await session.scalar(
        select(Conversation.state).where(Conversation.id == conversation.id).with_for_update()
    )
    return state == OPEN


async def _open(
    uow: UnitOfWork,
    *,
    account_id: str,
    consumer_id: str | None,
    phone: str | None,
    channel: str,
    text: str,
    device_id: str | None,
    origins: Origins,
) -> Written:
    session, now = uow.session, uow.now
    account = await session.get(Account, account_id)
    assert account is not None
    device = None
    if channel == "inapp" and consumer_id is not None:
        device = await pick_device(session, account_id, consumer_id, device_id)
    if device_id is not None and device is None:
        raise invalid_field("deviceId", f"no device {device_id!r} of this consumer")
    delivery = await latest_delivery(session, account_id, channel, consumer_id, phone)
    origin: Origin | None = None
    if delivery is not None:
        origin = (await origins.for_deliveries(session, [delivery])).get(delivery.id)
    # The delivery this conversation answers, if the rule attributes it to one.
    answered = delivery if delivery is not None and attributable(delivery, origin, now) else None
    conversation = Conversation(
        id=str(uuid.uuid4()),
        account_id=account_id,
        consumer_id=consumer_id,
        phone=phone,
        channel=channel,
        state=OPEN,
        skill=answered.skill if answered else account.default_skill,
        created_at=now,
        delivery_id=answered.id if answered else None,
        source=answered.source if answered else None,
        context=stored_context(
            campaign_context(answered, origin) if answered and origin else None,
            consumer_context(
                consumer_id,
                phone,
                device,
                origin if answered else None,
                answered.sdes if answered else None,
            ),
        ),
    )
    session.add(conversation)
    await session.flush()  # the one-open-conversation indexes answer here
    if answered is not None:
        assert answered.sent_time is not None
        outbound = (
            message_text(origin, channel, answered.message_text, answered.variables)
            if origin
            else ""
        )
        add_message(
            session, conversation, "outbound", outbound, answered.sent_time, delivery_id=answered.id
        )
        await lifecycle.mark_replied(session, answered.id, conversation.id, now)
    message = add_message(session, conversation, "consumer", text, now)
    welcome = None
    if answered is None and account.welcome_enabled and account.welcome_text:
        welcome = add_message(session, conversation, "system", account.welcome_text, now)
    enqueue(uow, conversation)
    await session.flush()
    if welcome is not None:
        uow.emit(topics.message_added(conversation, welcome))
    await assign_waiting(uow, account_id)
    await webhooks.created(uow, conversation, message)
    await webhooks.message(uow, conversation, message)
    uow.emit(topics.conversation_message(conversation, message))
    return Written(conversation, message, opened=True)
