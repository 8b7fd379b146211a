"""The SMS and WhatsApp use cases, one unit of work each: the credentials API, and the
providers' webhooks (statuses, inbound messages, STOP and START, the WhatsApp handshake).

A webhook is checked against the account's credentials (``ProviderAccounts``: cached, so a
webhook costs no extra read) before its write transaction opens: a forged or unsigned one is
refused (``WebhookRefused``, 403) without writing anything.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from parlay.channels.providers import ProviderAccounts, TwilioAccount, WhatsAppAccount
from parlay.consumers.models import SmsOptOut, WhatsAppWindow
from parlay.conversations import routing
from parlay.delivery import lifecycle
from parlay.delivery.lifecycle import ProviderStatus
from parlay.delivery.models import Delivery
from parlay.delivery.origins import Origins
from parlay.delivery.queue import WorkQueued
from parlay.delivery.status import ErrorCode, ErrorSource
from parlay.lib.db.group import GroupCommit
from parlay.lib.db.uow import Transactions, UnitOfWork
from parlay.lib.errors import Forbidden, NotFound
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.phone import normalize_e164
from parlay.lib.secretbox import SecretBox
from parlay.messaging import credentials, webhooks
from parlay.messaging.credentials import Stored, TwilioInput, WhatsAppInput
from parlay.messaging.models import ChannelAccount, InboundTaken

PROVIDERS = {"sms": "twilio", "wa": "whatsapp"}


@dataclass(frozen=True)
class ProviderAccountsChanged:
    """A signal: an account's SMS or WhatsApp credentials changed (the channels read them
    again)."""

    account_id: str


class WebhookRefused(Forbidden):
    """A provider webhook whose signature (or verify token) does not vouch for it."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"the {provider} webhook's signature does not match")
        self.provider = provider


# --- credentials ---------------------------------------------------------------------------


def _stored(row: ChannelAccount) -> Stored:
    return Stored(row.channel, dict(row.settings), row.created_at, row.updated_at)


async def _save(
    tx: Transactions, account_id: str, channel: str, given: Any, box: SecretBox
) -> Stored:
    async with tx.write() as uow:
        row = await uow.session.get(ChannelAccount, (account_id, channel))
        current = dict(row.settings) if row is not None else None
        if channel == "sms":
            settings = credentials.check_twilio(given, current, box)
        else:
            settings = credentials.check_whatsapp(given, current, box)
        if row is None:
            row = ChannelAccount(
                account_id=account_id,
                channel=channel,
                provider=PROVIDERS[channel],
                settings=settings,
                created_at=uow.now,
                updated_at=uow.now,
            )
            uow.session.add(row)
        else:
            row.settings = settings
            row.updated_at = uow.now
        await uow.session.flush()
        uow.emit(ProviderAccountsChanged(account_id))
        return _stored(row)


async def save_sms(
    tx: Transactions, urls: UrlPolicy, box: SecretBox, account_id: str, given: TwilioInput
) -> Stored:
    """Connect (or change) the account's Twilio account; validated, secrets sealed."""
    if given.endpoint:
        await urls.check("endpoint", given.endpoint)  # may resolve names: no tx open
    return await _save(tx, account_id, "sms", given, box)


async def save_whatsapp(
    tx: Transactions, urls: UrlPolicy, box: SecretBox, account_id: str, given: WhatsAppInput
) -> Stored:
    """Connect (or change) the account's WhatsApp number; validated, secrets sealed."""
    if given.endpoint:
        await urls.check("endpoint", given.endpoint)
    return await _save(tx, account_id, "wa", given, box)


async def get_channel(tx: Transactions, account_id: str, channel: str) -> Stored:
    async with tx.read() as uow:
        row = await uow.session.get(ChannelAccount, (account_id, channel))
        if row is None:
            raise NotFound(f"no {channel} provider is connected: it goes to the sandbox")
        return _stored(row)


async def disconnect(tx: Transactions, account_id: str, channel: str) -> None:
    """Forget the channel's credentials: its messages go to the sandbox again."""
    async with tx.write() as uow:
        row = await uow.session.get(ChannelAccount, (account_id, channel))
        if row is None:
            raise NotFound(f"no {channel} provider is connected")
        await uow.session.delete(row)
        uow.emit(ProviderAccountsChanged(account_id))


async def reencrypt(tx: Transactions, box: SecretBox) -> int:
    """Every stored SMS and WhatsApp secret sealed again with the newest key."""
    async with tx.write() as uow:
        rows = (await uow.session.scalars(select(ChannelAccount))).all()
        for row in rows:
            row.settings = credentials.resealed(row.channel, dict(row.settings), box)
        return len(rows)


async def _settings(tx: Transactions, account_id: str, channel: str) -> dict[str, Any] | None:
    async with tx.read() as uow:
        row = await uow.session.get(ChannelAccount, (account_id, channel))
        return dict(row.settings) if row is not None else None


async def twilio_account(tx: Transactions, box: SecretBox, account_id: str) -> TwilioAccount | None:
    settings = await _settings(tx, account_id, "sms")
    return credentials.twilio_account(settings, box) if settings else None


async def whatsapp_account(
    tx: Transactions, box: SecretBox, account_id: str
) -> WhatsAppAccount | None:
    settings = await _settings(tx, account_id, "wa")
    return credentials.whatsapp_account(settings, box) if settings else None


# --- Twilio's webhooks --------------------------------------------------------------------


async def _verified_twilio(
    accounts: ProviderAccounts,
    account_id: str,
    url: str,
    params: Mapping[str, str],
    signature: str,
) -> None:
    account = await accounts.twilio(account_id)
    if account is None or not webhooks.twilio_signed(account.auth_token, url, params, signature):
        raise WebhookRefused("twilio")


async def twilio_status(
    statuses: GroupCommit[ProviderStatus],
    accounts: ProviderAccounts,
    account_id: str,
    delivery_id: int | None,
    url: str,
    params: Mapping[str, str],
    signature: str,
) -> None:
    """A status callback of one SMS: its delivery moves forward (never back). Written with the
    other callbacks that arrive meanwhile, in one transaction (``sms_status_writer``); returns
    once it is committed."""
    await _verified_twilio(accounts, account_id, url, params, signature)
    report = webhooks.twilio_report(params)
    if report is None or delivery_id is None:
        return
    sid = params.get("MessageSid") or params.get("SmsSid")
    await statuses.submit(
        ProviderStatus(
            account_id=account_id,
            delivery_id=delivery_id,
            channel="sms",
            status=report.status,
            provider_message_id=sid[:255] if sid else None,
            error_code=report.error_code,
            error_message=report.provider_code,
            error_source=ErrorSource.TWILIO,
        )
    )


def sms_status_writer(tx: Transactions) -> GroupCommit[ProviderStatus]:
    """The group commit of Twilio's status callbacks (one per process)."""
    return GroupCommit(tx, _record_sms_statuses)


async def _record_sms_statuses(uow: UnitOfWork, reports: Sequence[ProviderStatus]) -> None:
    await lifecycle.record_provider_statuses(uow.session, reports, uow.now)
    for report in reports:
        if report.error_code == ErrorCode.OPTED_OUT:
            phone = await uow.session.scalar(
                select(Delivery.phone).where(
                    Delivery.id == report.delivery_id, Delivery.account_id == report.account_id
                )
            )
            if phone:
                await _opt_out(uow, report.account_id, phone)


async def twilio_inbound(
    tx: Transactions,
    accounts: ProviderAccounts,
    origins: Origins,
    account_id: str,
    url: str,
    params: Mapping[str, str],
    signature: str,
) -> None:
    """A consumer's SMS: STOP or START, else a message routed like any consumer's."""
    await _verified_twilio(accounts, account_id, url, params, signature)
    phone = normalize_e164(params.get("From", ""))
    if phone is None:
        return  # a short code or alphanumeric sender: nobody to answer
    text = params.get("Body", "")[:4096]
    async with tx.write() as uow:
        if not await _first_time(uow, account_id, "twilio", params.get("MessageSid", "")):
            return
        word = webhooks.keyword(text)
        if word == "STOP":
            await _opt_out(uow, account_id, phone)
        elif word == "START":
            await uow.session.execute(
                delete(SmsOptOut).where(
                    SmsOptOut.account_id == account_id, SmsOptOut.phone == phone
                )
            )
        else:
            await routing.consumer_writes(
                uow,
                account_id=account_id,
                consumer_id=None,
                phone=phone,
                channel="sms",
                text=text,
                device_id=None,
                origins=origins,
            )


async def _opt_out(uow: UnitOfWork, account_id: str, phone: str) -> None:
    if await uow.session.get(SmsOptOut, (account_id, phone)) is None:
        uow.session.add(SmsOptOut(account_id=account_id, phone=phone, opted_out_at=uow.now))
        await uow.session.flush()


async def opt_out(tx: Transactions, account_id: str, phone: str) -> None:
    """Twilio refused a send: the number unsubscribed (21610)."""
    async with tx.write() as uow:
        await _opt_out(uow, account_id, phone)


async def _first_time(uow: UnitOfWork, account_id: str, provider: str, message_id: str) -> bool:
    """Record an inbound provider message; False when it was taken before (a retry)."""
    if not message_id:
        return True
    key = (account_id, provider, message_id[:128])
    if await uow.session.get(InboundTaken, key) is not None:
        return False
    uow.session.add(
        InboundTaken(
            account_id=account_id, provider=provider, message_id=key[2], received_at=uow.now
        )
    )
    await uow.session.flush()
    return True


# --- WhatsApp's webhooks -------------------------------------------------------------------


async def whatsapp_handshake(
    accounts: ProviderAccounts, account_id: str, mode: str, token: str, challenge: str
) -> str:
    """Meta's subscription check: the challenge back when the verify token matches."""
    account = await accounts.whatsapp(account_id)
    if (
        account is None
        or mode != "subscribe"
        or not hmac.compare_digest(token.encode(), account.verify_token.encode())
    ):
        raise WebhookRefused("whatsapp")
    return challenge


async def whatsapp_event(
    tx: Transactions,
    accounts: ProviderAccounts,
    origins: Origins,
    account_id: str,
    body: bytes,
    signature: str,
    doc: Any,
) -> None:
    """A Meta notification: statuses move deliveries forward (an undeliverable one falls back
    to SMS when its handoff has SMS), inbound messages are consumer messages on ``wa``."""
    account = await accounts.whatsapp(account_id)
    if account is None or not webhooks.meta_signed(account.app_secret, body, signature):
        raise WebhookRefused("whatsapp")
    notification = webhooks.meta_notification(doc)
    async with tx.write() as uow:
        for status in notification.statuses:
            await _whatsapp_status(uow, origins, account_id, status)
        for message in notification.messages:
            await _whatsapp_message(uow, origins, account_id, message)


async def _whatsapp_status(
    uow: UnitOfWork, origins: Origins, account_id: str, status: webhooks.MetaStatus
) -> None:
    if status.report is None or status.delivery_id is None:
        return
    changed = await lifecycle.record_provider_status(
        uow.session,
        ProviderStatus(
            account_id=account_id,
            delivery_id=status.delivery_id,
            channel="wa",
            status=status.report.status,
            provider_message_id=status.message_id or None,
            error_code=status.report.error_code,
            error_message=status.report.provider_code,
            error_source=ErrorSource.WHATSAPP,
        ),
        uow.now,
    )
    if not (changed and status.undeliverable):
        return
    failed = await uow.session.get(Delivery, status.delivery_id, populate_existing=True)
    assert failed is not None
    origin = (await origins.for_deliveries(uow.session, [failed])).get(failed.id)
    if origin is None or "sms" not in origin.handoff.channel_types:
        return
    if await lifecycle.add_fallback(uow.session, failed, "sms", uow.now) is not None:
        uow.emit(WorkQueued(priority=False))


async def _whatsapp_message(
    uow: UnitOfWork, origins: Origins, account_id: str, message: webhooks.MetaMessage
) -> None:
    if not await _first_time(uow, account_id, "whatsapp", message.message_id):
        return
    window = await uow.session.get(WhatsAppWindow, (account_id, message.phone))
    if window is None:
        uow.session.add(
            WhatsAppWindow(account_id=account_id, phone=message.phone, last_inbound_at=uow.now)
        )
    else:
        window.last_inbound_at = uow.now
    await uow.session.flush()
    await routing.consumer_writes(
        uow,
        account_id=account_id,
        consumer_id=None,
        phone=message.phone,
        channel="wa",
        text=message.text,
        device_id=None,
        origins=origins,
    )
