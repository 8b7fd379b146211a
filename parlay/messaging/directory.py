"""The SMS and WhatsApp channels' view of the accounts (``channels.providers.ProviderAccounts``):
credentials read from the database, opened, and cached for a few seconds (every send needs
them); the WhatsApp window and Twilio's opt-outs read and written as they come."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from parlay.channels.providers import TwilioAccount, WhatsAppAccount
from parlay.conversations.pushes import last_inbound
from parlay.lib.db.uow import Transactions
from parlay.lib.secretbox import SecretBox
from parlay.messaging import usecases

CACHE_SECONDS = 30.0


class ProviderDirectory:
    def __init__(
        self,
        tx: Transactions,
        secrets: SecretBox,
        *,
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tx = tx
        self._secrets = secrets
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._twilio: dict[str, tuple[float, TwilioAccount | None]] = {}
        self._whatsapp: dict[str, tuple[float, WhatsAppAccount | None]] = {}

    def forget(self, account_id: str) -> None:
        """The account's credentials changed (in this process; others within the cache time)."""
        self._twilio.pop(account_id, None)
        self._whatsapp.pop(account_id, None)

    async def twilio(self, account_id: str) -> TwilioAccount | None:
        cached = self._twilio.get(account_id)
        if cached is not None and self._monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        account = await usecases.twilio_account(self._tx, self._secrets, account_id)
        self._twilio[account_id] = (self._monotonic(), account)
        return account

    async def whatsapp(self, account_id: str) -> WhatsAppAccount | None:
        cached = self._whatsapp.get(account_id)
        if cached is not None and self._monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        account = await usecases.whatsapp_account(self._tx, self._secrets, account_id)
        self._whatsapp[account_id] = (self._monotonic(), account)
        return account

    async def last_inbound(self, account_id: str, phone: str) -> datetime | None:
        async with self._tx.read() as uow:
            return await last_inbound(uow.session, account_id, phone)

    async def opt_out(self, account_id: str, phone: str) -> None:
        await usecases.opt_out(self._tx, account_id, phone)
