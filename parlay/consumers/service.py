"""Use cases of the consumer API: devices (registering is logging in), logout, push receipts,
and the outbound messages a consumer has not opened yet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.apps.models import App
from parlay.consumers.models import Consumer, Device
from parlay.errors import NotFound, invalid_field
from parlay.handoffs.service import MAX_LOOKBACK_HOURS
from parlay.outbound.context import ContextCache, backend_service, message_text
from parlay.outbound.models import Delivery
from parlay.outbound.status import DeliveryStatus, statuses_before

PENDING_OUTBOUND_LIMIT = 50
_MAX_LOOKBACK = timedelta(hours=MAX_LOOKBACK_HOURS)


@dataclass(frozen=True)
class DeviceRegistration:
    app_id: str
    platform: str
    push_service: str
    push_token: str | None
    os_version: str
    device_model: str
    sdk_version: str
    country: str | None
    city: str | None


M = TypeVar("M", Consumer, Device)


async def _insert_or_find(
    session: AsyncSession, row: M, find: Callable[[], Awaitable[M | None]]
) -> M:
    """Insert ``row``, or when a concurrent transaction inserted the same unique key first, the
    row it made: two registrations of a new consumer at once (an SDK retry, two installs) both
    saw no row, and the second insert answered 500 on PostgreSQL."""
    try:
        async with session.begin_nested():
            session.add(row)
        return row
    except IntegrityError:
        found = await find()
        if found is None:
            raise
        return found


async def _ensure_consumer(
    session: AsyncSession, account_id: str, consumer_id: str, now: datetime
) -> None:
    async def find() -> Consumer | None:
        return await session.scalar(
            select(Consumer).where(
                Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
            )
        )

    consumer = await find()
    if consumer is None:
        new = Consumer(
            account_id=account_id, consumer_id=consumer_id, created_at=now, first_login_at=now
        )
        consumer = await _insert_or_find(session, new, find)
    if consumer.first_login_at is None:
        consumer.first_login_at = now


async def register_device(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    device_id: str,
    reg: DeviceRegistration,
    now: datetime,
) -> Device:
    """Register (= log in) a device; registering revives a token a provider had refused."""
    app = await session.scalar(
        select(App).where(App.account_id == account_id, App.app_id == reg.app_id)
    )
    if app is None:
        raise invalid_field("appId", f"no app {reg.app_id!r} in this account")
    if app.push_service != reg.push_service or app.platform != reg.platform:
        raise invalid_field(
            "pushService",
            f"app {reg.app_id!r} is a {app.platform} app pushing through {app.push_service}",
        )
    await _ensure_consumer(session, account_id, consumer_id, now)
    if reg.push_token:
        # A push token belongs to one install: if another consumer registered it before (a
        # shared or handed-over phone), that registration loses it.
        await session.execute(
            update(Device)
            .where(
                Device.account_id == account_id,
                Device.push_token == reg.push_token,
                (Device.consumer_id != consumer_id) | (Device.device_id != device_id),
            )
            .values(push_token=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def find() -> Device | None:
        return await session.scalar(
            select(Device).where(
                Device.account_id == account_id,
                Device.consumer_id == consumer_id,
                Device.device_id == device_id,
            )
        )

    device = await find()
    if device is None:
        new = Device(
            account_id=account_id,
            consumer_id=consumer_id,
            device_id=device_id,
            app_id=reg.app_id,
            platform=reg.platform,
            push_service=reg.push_service,
            registered_at=now,
            updated_at=now,
        )
        device = await _insert_or_find(session, new, find)
    # Any registration revives the token, the same one included: after APNs 410 Apple says to
    # stop pushing "until the device registers a token with a later timestamp", and the app
    # registering now is that registration (a reinstall often keeps the token).
    device.token_disabled_at = None
    device.app_id, device.platform, device.push_service = reg.app_id, reg.platform, reg.push_service
    device.push_token = reg.push_token
    device.os_version, device.device_model = reg.os_version, reg.device_model
    device.sdk_version, device.country, device.city = reg.sdk_version, reg.country, reg.city
    device.logged_in, device.logout_mode, device.updated_at = True, None, now
    await session.flush()
    return device


async def logout_device(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    device_id: str,
    unregister_type: str,
    now: datetime,
) -> Device:
    """ALL: no pushes; NONE: all pushes; AGENT: outbound (proactive/IVR) pushes only."""
    device = await session.scalar(
        select(Device).where(
            Device.account_id == account_id,
            Device.consumer_id == consumer_id,
            Device.device_id == device_id,
        )
    )
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    device.logged_in, device.logout_mode, device.updated_at = False, unregister_type, now
    await session.flush()
    return device


async def record_receipt(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    push_message_id: str,
    status: DeliveryStatus,
    now: datetime,
) -> str:
    """``received`` → DELIVERED, ``tapped`` → READ; forward only, and idempotent.

    A receipt can overtake the dispatcher's own record of the send (outcomes are written in
    batches), so it also stamps ``sentTime`` when that is still empty.
    """
    delivery = await _own_delivery(session, account_id, consumer_id, push_message_id)
    values: dict[str, Any] = {"status": status.value}
    if status == DeliveryStatus.DELIVERED:
        values["delivered_time"] = now
    else:
        values["read_time"] = now
        if delivery.delivered_time is None:
            values["delivered_time"] = now
    if delivery.sent_time is None:
        # In SQL: the dispatcher may record its own sentTime between this read and the update.
        values["sent_time"] = func.coalesce(
            Delivery.sent_time, literal(now, Delivery.sent_time.type)
        )
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status.in_(statuses_before(status)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    current = await session.scalar(select(Delivery.status).where(Delivery.id == delivery.id))
    return str(current)


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


async def pending_outbound(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    now: datetime,
    contexts: ContextCache,
) -> list[dict[str, Any]]:
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
    loaded = await contexts.for_deliveries(session, live)
    messages = []
    for d in live:
        context = loaded.get(d.id)
        if context is None:
            continue
        start = d.sent_time or d.attempted_time
        messages.append(
            {
                "pushMessageId": str(d.id),
                "message": message_text(context, "inapp", d.message_text, d.variables),
                "backendService": backend_service(d.source),
                "lookBackPeriod": d.lookback_seconds,
                "campaignInfo": context.campaign_info(d.skill),
                "sentTime": d.sent_time,
                "expiresAt": start + timedelta(seconds=d.lookback_seconds),
            }
        )
    return messages
