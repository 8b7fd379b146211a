"""HTTP routes of the consumer API (SPEC §9) under ``/api/account/{accountId}/consumer/``,
authenticated by the brand's JWT (not by staff credentials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from parlay.accounts.models import Account
from parlay.api.deps import ContainerDep
from parlay.api.params import AccountIdPath
from parlay.consumers import service
from parlay.consumers.auth import ConsumerIdentity, verify_consumer_token
from parlay.consumers.models import Device
from parlay.consumers.schemas import (
    DeviceIn,
    DeviceOut,
    LogoutIn,
    PendingOutbound,
    PendingOutboundList,
    ReceiptOut,
)
from parlay.errors import RateLimited, Unauthenticated
from parlay.outbound.status import DeliveryStatus
from parlay.ratelimit.limiter import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}/consumer", tags=["consumer"])
_bearer = HTTPBearer(auto_error=False, description="A JWT signed by the brand's identity provider.")
DeviceIdPath = Annotated[str, Path(min_length=1, max_length=255)]


async def authenticate_consumer(
    request: Request,
    c: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ConsumerIdentity:
    """The consumer the brand's JWT names; counted in the account's ``consumer`` rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    account_id = request.path_params["accountId"]
    async with c.db.read() as session:
        account = await session.get(Account, account_id)
    identity = await verify_consumer_token(
        credentials.credentials, account_id, account.consumer_auth if account else None, c.jwks
    )
    assert account is not None  # no configuration, no verified token
    retry_after = await c.limiter.hit(ApiFamily.CONSUMER, account_id, account.rate_limit_per_second)
    if retry_after is not None:
        c.metrics.rate_limited.labels(account_id, ApiFamily.CONSUMER.value).inc()
        raise RateLimited(retry_after, "too many consumer requests")
    return identity


# Marks the routes that consumers (not staff) call: the permission matrix checks this instead.
authenticate_consumer.consumer_auth = True  # type: ignore[attr-defined]
Consumer = Annotated[ConsumerIdentity, Depends(authenticate_consumer)]


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
    accountId: AccountIdPath, deviceId: DeviceIdPath, body: DeviceIn, c: ContainerDep, me: Consumer
) -> DeviceOut:
    """Register the app install for push. Registering is logging in."""
    registration = service.DeviceRegistration(
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
    async with c.db.write() as session:
        device = await service.register_device(
            session, me.account_id, me.consumer_id, deviceId, registration, c.clock.now()
        )
    return _device_out(device)


@router.post("/devices/{deviceId}/logout", operation_id="logoutDevice", response_model=DeviceOut)
async def logout_device(
    accountId: AccountIdPath, deviceId: DeviceIdPath, body: LogoutIn, c: ContainerDep, me: Consumer
) -> DeviceOut:
    """Log the device out: ALL — no pushes; NONE — all pushes; AGENT — outbound pushes only."""
    async with c.db.write() as session:
        device = await service.logout_device(
            session, me.account_id, me.consumer_id, deviceId, body.unregister_type, c.clock.now()
        )
    return _device_out(device)


async def _receipt(
    c: ContainerDep, me: ConsumerIdentity, push_message_id: str, status: DeliveryStatus
) -> ReceiptOut:
    async with c.db.write() as session:
        current = await service.record_receipt(
            session, me.account_id, me.consumer_id, push_message_id, status, c.clock.now()
        )
    return ReceiptOut(push_message_id=push_message_id, status=current)


@router.post(
    "/push/{pushMessageId}/received", operation_id="pushReceived", response_model=ReceiptOut
)
async def push_received(
    accountId: AccountIdPath, pushMessageId: str, c: ContainerDep, me: Consumer
) -> ReceiptOut:
    """The app got the push: the delivery becomes DELIVERED."""
    return await _receipt(c, me, pushMessageId, DeliveryStatus.DELIVERED)


@router.post("/push/{pushMessageId}/tapped", operation_id="pushTapped", response_model=ReceiptOut)
async def push_tapped(
    accountId: AccountIdPath, pushMessageId: str, c: ContainerDep, me: Consumer
) -> ReceiptOut:
    """The consumer opened the push: the delivery becomes READ."""
    return await _receipt(c, me, pushMessageId, DeliveryStatus.READ)


@router.get(
    "/pending-outbound", operation_id="listPendingOutbound", response_model=PendingOutboundList
)
async def pending_outbound(
    accountId: AccountIdPath, c: ContainerDep, me: Consumer
) -> PendingOutboundList:
    """Outbound messages within their lookback that the consumer has not opened yet."""
    async with c.db.read() as session:
        messages = await service.pending_outbound(
            session, me.account_id, me.consumer_id, c.clock.now(), c.contexts
        )
    return PendingOutboundList(messages=[PendingOutbound.model_validate(m) for m in messages])
