"""What an agent sees about why a conversation exists: the campaign or IVR call that started it,
the consumer's device and call data, and the recent outbound messages.

The campaign and consumer parts are frozen when the conversation opens, from what the campaign
or the C2M call and the device registration recorded: a later device change or handoff edit
does not rewrite history. The outbound messages are read live (their statuses move on).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.apps.models import Device
from parlay.conversations.models import Conversation
from parlay.conversations.views import (
    CampaignContext,
    ConsumerContext,
    ContextView,
    ConversationInfo,
    OutboundMessageView,
)
from parlay.delivery.models import Delivery
from parlay.delivery.origins import Origin, Origins, message_text
from parlay.delivery.status import OUTBOUND_SOURCES

# Up to the 5 most recent outbound messages to the consumer in the last 30 days.
RECENT_OUTBOUND = 5
RECENT_OUTBOUND_WINDOW = timedelta(days=30)
_OS_NAMES = {"ios": "iOS", "android": "Android"}


def campaign_context(delivery: Delivery, origin: Origin) -> CampaignContext:
    """The campaign part: the delivery the conversation answers, and its origin."""
    return CampaignContext(
        campaign_name=origin.campaign_name,
        engagement_name=origin.handoff.name,
        skill=delivery.skill,
        source=delivery.source,
        campaign_id=delivery.campaign_id,
        call_id=delivery.call_id,
        handoff_id=delivery.handoff_id,
        delivery_id=str(delivery.id),
    )


def device_os(device: Device) -> str:
    name = _OS_NAMES.get(device.platform, device.platform)
    return f"{name} {device.os_version}".strip() if device.os_version else name


def consumer_context(
    consumer_id: str | None,
    phone: str | None,
    device: Device | None,
    origin: Origin | None,
    delivery_sdes: list[Any] | None = None,
) -> ConsumerContext:
    """The consumer part: the device they wrote from (in-app), and the structured data the
    brand sent about them: the campaign's for this consumer (``delivery_sdes``) or the IVR
    call's (``origin``: of the delivery the conversation answers, if any)."""
    sdes = delivery_sdes
    if sdes is None and origin is not None and origin.sdes is not None:
        sdes = list(origin.sdes)
    return ConsumerContext(
        consumer_id=consumer_id,
        phone=phone,
        device_id=device.device_id if device else None,
        device_os=device_os(device) if device else None,
        device=device.device_model if device else None,
        app_id=device.app_id if device else None,
        country=device.country if device else None,
        city=device.city if device else None,
        ivr_number=origin.ivr_number if origin else None,
        sdes=sdes,
    )


async def pick_device(
    session: AsyncSession, account_id: str, consumer_id: str, device_id: str | None
) -> Device | None:
    """The device the consumer names, else the one they used last (logged-in ones first)."""
    query = select(Device).where(Device.account_id == account_id, Device.consumer_id == consumer_id)
    if device_id is not None:
        return await session.scalar(query.where(Device.device_id == device_id))
    return await session.scalar(
        query.order_by(Device.logged_in.desc(), Device.updated_at.desc(), Device.id.desc()).limit(1)
    )


def stored_context(campaign: CampaignContext | None, consumer: ConsumerContext) -> dict[str, Any]:
    """The context as the conversation's JSON column keeps it."""
    return {"campaign": campaign.to_json() if campaign else None, "consumer": consumer.to_json()}


def conversation_context(conversation: Conversation) -> ContextView:
    stored = conversation.context or {}
    campaign, consumer = stored.get("campaign"), stored.get("consumer")
    return ContextView(
        campaign=CampaignContext.from_json(campaign) if campaign else None,
        consumer=ConsumerContext.from_json(consumer) if consumer else None,
        conversation=ConversationInfo(
            conversation.created_at, conversation.id, conversation.channel
        ),
    )


async def outbound_messages(
    session: AsyncSession,
    conversation: Conversation,
    origins: Origins,
    now: datetime,
) -> list[OutboundMessageView]:
    """The outbound message that started the conversation, then the consumer's most recent
    other outbound messages of the last 30 days (at most 5 in all besides the first); the pushes
    of conversations' own messages are not outbound messages."""
    identities = []
    if conversation.consumer_id:
        identities.append(Delivery.consumer_id == conversation.consumer_id)
    if conversation.phone:
        identities.append(Delivery.phone == conversation.phone)
    rows: list[Delivery] = []
    if identities:
        rows = list(
            (
                await session.execute(
                    select(Delivery)
                    .where(
                        Delivery.account_id == conversation.account_id,
                        or_(*identities),
                        Delivery.source.in_(OUTBOUND_SOURCES),
                        Delivery.sent_time.is_not(None),
                        Delivery.sent_time > now - RECENT_OUTBOUND_WINDOW,
                    )
                    .order_by(Delivery.sent_time.desc(), Delivery.id.desc())
                    .limit(RECENT_OUTBOUND + 1)
                )
            )
            .scalars()
            .all()
        )
    first = None
    if conversation.delivery_id is not None:
        first = next((d for d in rows if d.id == conversation.delivery_id), None)
        if first is None:
            first = await session.get(Delivery, conversation.delivery_id)
    others = [d for d in rows if first is None or d.id != first.id][:RECENT_OUTBOUND]
    chosen = ([first] if first is not None else []) + others
    return await _describe(session, chosen, origins, conversation.delivery_id)


async def _describe(
    session: AsyncSession,
    deliveries: Iterable[Delivery],
    origins: Origins,
    started_by: int | None,
) -> list[OutboundMessageView]:
    deliveries = list(deliveries)
    found = await origins.for_deliveries(session, deliveries)
    described = []
    for d in deliveries:
        origin = found.get(d.id)
        described.append(
            OutboundMessageView(
                delivery_id=str(d.id),
                channel=d.channel,
                text=message_text(origin, d.channel, d.message_text, d.variables)
                if origin
                else d.message_text,
                source=d.source,
                campaign_name=origin.campaign_name if origin else None,
                skill=d.skill,
                status=d.status,
                sent_time=d.sent_time,
                started_conversation=d.id == started_by,
            )
        )
    return described
