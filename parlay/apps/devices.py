"""Devices (app installs of consumers): registering one is logging in; logging out says which
pushes it still takes; a provider that refuses a token for good disables it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.apps.models import App, Device, push_token_key
from parlay.lib.db.rows import insert_or_find
from parlay.lib.errors import NotFound, invalid_field


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


async def register_device(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    device_id: str,
    reg: DeviceRegistration,
    now: datetime,
) -> Device:
    """Register a device (registering is logging in: the consumers package records the login);
    registering revives a token a provider had refused."""
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
        device = await insert_or_find(session, new, find)
    # Any registration revives the token, the same one included: after APNs 410 Apple says to
    # stop pushing "until the device registers a token with a later timestamp", and the app
    # registering now is that registration (a reinstall often keeps the token).
    device.token_disabled_at = None
    device.app_id, device.platform, device.push_service = reg.app_id, reg.platform, reg.push_service
    device.os_version, device.device_model = reg.os_version, reg.device_model
    device.sdk_version, device.country, device.city = reg.sdk_version, reg.country, reg.city
    device.logged_in, device.logout_mode, device.updated_at = True, None, now
    await session.flush()
    await _hold_token(session, device, reg.push_token, now)
    return device


# Each attempt but the last loses only to a registration of the same token that committed
# meanwhile; the next attempt takes the token from it.
_TOKEN_ATTEMPTS = 3


async def _hold_token(
    session: AsyncSession, device: Device, token: str | None, now: datetime
) -> None:
    """Give ``device`` the push token, taking it from any other device of the account: a token
    belongs to one install (a shared or handed-over phone registers it anew). The unique index
    on the token makes two registrations at the same instant meet here; the later one wins."""
    # Read once: a rolled-back attempt expires the object's attributes, and reading an expired
    # attribute would be I/O outside the driver's await.
    account_id, device_pk = device.account_id, device.id
    for attempt in range(_TOKEN_ATTEMPTS):
        if token is not None:
            await session.execute(
                update(Device)
                .where(
                    Device.account_id == account_id,
                    Device.push_token_key == push_token_key(token),
                    Device.id != device_pk,
                )
                .values(push_token=None, push_token_key=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        try:
            async with session.begin_nested():
                device.push_token = token
                await session.flush()
        except IntegrityError:
            if attempt == _TOKEN_ATTEMPTS - 1:
                raise
            continue
        if attempt > 0:
            await session.refresh(device)
        return


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


async def disable_tokens(
    session: AsyncSession, account_id: str, tokens: Sequence[str], now: datetime
) -> None:
    """A provider said these push tokens are dead: never push to them again."""
    if tokens:
        await session.execute(
            update(Device)
            .where(Device.account_id == account_id, Device.push_token.in_(list(tokens)))
            .values(token_disabled_at=now)
            .execution_options(synchronize_session=False)
        )
