"""HTTP routes of App Messaging's consumer API under ``/api/account/{accountId}/consumer/``,
for the brand's app through the mobile SDK: devices, push receipts, pending outbound messages.
Authenticated by the brand's JWT (not by staff credentials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from parlay.api.deps import Consumer, ServicesDep
from parlay.api.params import AccountIdPath, PushMessageIdPath
from parlay.api.schemas.consumers import (
    DeviceIn,
    DeviceOut,
    LogoutIn,
    PendingOutbound,
    PendingOutboundList,
    ReceiptOut,
)
from parlay.api.strict_json import api_router
from parlay.apps.devices import DeviceRegistration
from parlay.apps.models import Device
from parlay.consumers import usecases
from parlay.consumers.auth import ConsumerIdentity
from parlay.consumers.pushes import PendingPush
from parlay.delivery.status import DeliveryStatus
from parlay.services import Services

router = api_router(prefix="/api/account/{accountId}/consumer", tags=["consumer"])
DeviceIdPath = Annotated[
    str, Path(min_length=1, max_length=255, description="The SDK's ID of this app install.")
]


def _device_out(d: Device) -> DeviceOut:
    return DeviceOut(
        device_id=d.device_id,
        app_id=d.app_id,
        platform=d.platform,
        push_service=d.push_service,
        has_push_token=bool(d.push_token),
        push_token_disabled=d.token_disabled_at is not None,
        logged_in=d.logged_in,
        logout_mode=d.logout_mode,
        registered_at=d.registered_at,
        updated_at=d.updated_at,
    )


@router.put("/devices/{deviceId}", operation_id="registerDevice", response_model=DeviceOut)
async def register_device(
    accountId: AccountIdPath, deviceId: DeviceIdPath, body: DeviceIn, s: ServicesDep, me: Consumer
) -> DeviceOut:
    """Register the app install for push. Registering is logging in."""
    registration = DeviceRegistration(
        app_id=body.app_id,
        platform=body.platform,
        push_service=body.push_service,
        push_token=body.push_token,
        os_version=body.os_version,
        device_model=body.device_model,
        sdk_version=body.sdk_version,
        country=body.country,
        city=body.city,
    )
    return _device_out(await usecases.register_device(s.tx, me, deviceId, registration))


@router.post("/devices/{deviceId}/logout", operation_id="logoutDevice", response_model=DeviceOut)
async def logout_device(
    accountId: AccountIdPath, deviceId: DeviceIdPath, body: LogoutIn, s: ServicesDep, me: Consumer
) -> DeviceOut:
    """Log the device out: ALL — no pushes; NONE — all pushes; AGENT — outbound pushes only."""
    return _device_out(await usecases.logout_device(s.tx, me, deviceId, body.unregister_type))


async def _receipt(
    s: Services, me: ConsumerIdentity, push_message_id: str, status: DeliveryStatus
) -> ReceiptOut:
    current = await usecases.push_receipt(s.tx, me, push_message_id, status)
    return ReceiptOut(push_message_id=push_message_id, status=current)


@router.post(
    "/push/{pushMessageId}/received", operation_id="pushReceived", response_model=ReceiptOut
)
async def push_received(
    accountId: AccountIdPath, pushMessageId: PushMessageIdPath, s: ServicesDep, me: Consumer
) -> ReceiptOut:
    """The app got the push: the delivery becomes DELIVERED."""
    return await _receipt(s, me, pushMessageId, DeliveryStatus.DELIVERED)


@router.post("/push/{pushMessageId}/tapped", operation_id="pushTapped", response_model=ReceiptOut)
async def push_tapped(
    accountId: AccountIdPath, pushMessageId: PushMessageIdPath, s: ServicesDep, me: Consumer
) -> ReceiptOut:
    """The consumer opened the push: the delivery becomes READ."""
    return await _receipt(s, me, pushMessageId, DeliveryStatus.READ)


def _pending_out(p: PendingPush) -> PendingOutbound:
    payload = p.payload
    return PendingOutbound(
        push_message_id=payload.push_message_id,
        message=payload.message,
        backend_service=payload.backend_service,
        look_back_period=payload.lookback_seconds,
        campaign_info=p.campaign_info.to_json(),
        sent_time=p.sent_time,
        expires_at=p.expires_at,
    )


@router.get(
    "/pending-outbound", operation_id="listPendingOutbound", response_model=PendingOutboundList
)
async def pending_outbound(
    accountId: AccountIdPath, s: ServicesDep, me: Consumer
) -> PendingOutboundList:
    """Outbound messages within their lookback that the consumer has not opened yet."""
    pending = await usecases.pending_outbound(s.tx, s.origins, me)
    return PendingOutboundList(messages=[_pending_out(p) for p in pending])
