"""The pushes a consumer's app reports (received → DELIVERED, tapped → READ) and the outbound
messages still within their lookback that it has not opened (``pending-outbound``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.delivery import lifecycle
from parlay.delivery.models import Delivery
from parlay.delivery.origins import CampaignInfo, Origins, OutboundPayload, outbound_payload
from parlay.delivery.status import OUTBOUND_SOURCES, DeliveryStatus
from parlay.handoffs.service import MAX_LOOKBACK_HOURS
from parlay.lib.errors import NotFound

PENDING_OUTBOUND_LIMIT = 50
_MAX_LOOKBACK = timedelta(hours=MAX_LOOKBACK_HOURS)


async def record_receipt(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    push_message_id: str,
    status: DeliveryStatus,
    now: datetime,
) -> str:
    """``received`` → DELIVERED, ``tapped`` → READ; forward only, and idempotent. Returns the
    delivery's status afterwards."""
    delivery = await _own_delivery(session, account_id, consumer_id, push_message_id)
    return await lifecycle.record_receipt(session, delivery, status, now)


async def _own_delivery(
    session: AsyncSession, account_id: str, consumer_id: str, push_message_id: str
) -> Delivery:
    # ASCII digits within BIGINT only: str.isdigit() also accepts "²" (int() then raises) and
    # other scripts' digits, and an id past 64 bits made the database driver raise (500).
    plain = push_message_id.isascii() and push_message_id.isdigit()
    delivery_id = int(push_message_id) if plain and len(push_message_id) <= 18 else None
    delivery = await session.get(Delivery, delivery_id) if delivery_id is not None else None
    if (
        delivery is None
        or delivery.account_id != account_id
        or delivery.consumer_id != consumer_id
        or delivery.channel != "inapp"
    ):
        raise NotFound(f"no push message {push_message_id!r}")
    return delivery


@dataclass(frozen=True)
class PendingPush:
    """An outbound message the consumer has not opened yet, still within its lookback."""

    payload: OutboundPayload
    campaign_info: CampaignInfo  # why it was sent (every outbound message says)
    sent_time: datetime | None
    expires_at: datetime


async def pending_outbound(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    now: datetime,
    origins: Origins,
) -> list[PendingPush]:
    """Outbound messages still within their lookback that the consumer has not opened, newest
    first (so an iOS notification the consumer never tapped is not lost)."""
    rows: Sequence[Delivery] = (
        (
            await session.execute(
                select(Delivery)
                .where(
                    Delivery.account_id == account_id,
                    Delivery.consumer_id == consumer_id,
                    Delivery.channel == "inapp",
                    # Not the pushes of conversations' messages (the conversation has them): in
                    # SQL, so that they take none of the 50 places.
                    Delivery.source.in_(OUTBOUND_SOURCES),
                    Delivery.status.in_(
                        [DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value]
                    ),
                    Delivery.superseded_by.is_(None),
                    # A push is sent at most a lookback after its attempt and lives a lookback
                    # after that: older rows cannot be live. The limit comes after the lookback
                    # filter: applied in SQL, 50 newer expired pushes (untapped ones stay SENT)
                    # hid an older one that was still live.
                    Delivery.attempted_time > now - 2 * _MAX_LOOKBACK,
                )
                .order_by(Delivery.id.desc())
            )
        )
        .scalars()
        .all()
    )
    live = [
        d
        for d in rows
        if (d.sent_time or d.attempted_time) + timedelta(seconds=d.lookback_seconds) > now
    ][:PENDING_OUTBOUND_LIMIT]
    found = await origins.for_deliveries(session, live)
    pending = []
    for d in live:
        origin = found.get(d.id)
        if origin is None:
            continue
        start = d.sent_time or d.attempted_time
        pending.append(
            PendingPush(
                payload=outbound_payload(d, origin, "inapp"),
                campaign_info=origin.campaign_info(d.skill),
                sent_time=d.sent_time,
                expires_at=start + timedelta(seconds=d.lookback_seconds),
            )
        )
    return pending
