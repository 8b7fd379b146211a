"""The consumer API's use cases (App Messaging, for the mobile SDK), one unit of work each."""

from __future__ import annotations

from parlay.accounts.models import Account
from parlay.accounts.settings import consumer_auth_of
from parlay.apps import devices
from parlay.apps.devices import DeviceRegistration
from parlay.apps.models import Device
from parlay.consumers import identities, pushes
from parlay.consumers.auth import ConsumerIdentity, JwksCache, verify_consumer_token
from parlay.consumers.pushes import PendingPush
from parlay.delivery.origins import Origins
from parlay.delivery.status import DeliveryStatus
from parlay.lib.db.uow import Transactions


async def authenticate(
    tx: Transactions, jwks: JwksCache, account_id: str, token: str
) -> tuple[ConsumerIdentity, Account]:
    """The consumer a brand-signed JWT names (401 otherwise), and their account."""
    async with tx.read() as uow:
        account = await uow.session.get(Account, account_id)
    identity = await verify_consumer_token(
        token, account_id, consumer_auth_of(account) if account else None, jwks
    )
    assert account is not None  # no configuration, no verified token
    return identity, account


async def register_device(
    tx: Transactions, me: ConsumerIdentity, device_id: str, registration: DeviceRegistration
) -> Device:
    """Register the app install for push; registering is logging in."""
    async with tx.write() as uow:
        device = await devices.register_device(
            uow.session, me.account_id, me.consumer_id, device_id, registration, uow.now
        )
        await identities.record_login(uow.session, me.account_id, me.consumer_id, uow.now)
    return device


async def logout_device(
    tx: Transactions, me: ConsumerIdentity, device_id: str, unregister_type: str
) -> Device:
    async with tx.write() as uow:
        return await devices.logout_device(
            uow.session, me.account_id, me.consumer_id, device_id, unregister_type, uow.now
        )


async def push_receipt(
    tx: Transactions, me: ConsumerIdentity, push_message_id: str, status: DeliveryStatus
) -> str:
    """The app received or opened a push; the delivery's status afterwards."""
    async with tx.write() as uow:
        return await pushes.record_receipt(
            uow.session, me.account_id, me.consumer_id, push_message_id, status, uow.now
        )


async def pending_outbound(
    tx: Transactions, origins: Origins, me: ConsumerIdentity
) -> list[PendingPush]:
    async with tx.read() as uow:
        return await pushes.pending_outbound(
            uow.session, me.account_id, me.consumer_id, uow.now, origins
        )
