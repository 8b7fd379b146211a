"""An account's SMS and WhatsApp provider settings, and the inbound provider messages already
taken (providers deliver webhooks at least once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base, JSONType


class ChannelAccount(Base):
    """One account's provider account for a channel (``sms``: Twilio, ``wa``: WhatsApp Cloud
    API). No row: the channel goes to the sandbox for this account."""

    __tablename__ = "channel_accounts"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)  # sms | wa
    provider: Mapped[str] = mapped_column(String(16))  # twilio | whatsapp
    # The settings in API casing, every secret sealed (``parlay.messaging.credentials``).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class InboundTaken(Base):
    """An inbound provider message already written into a conversation: a provider's retry of
    the same webhook (Meta retries for days, Twilio on errors) is not written twice."""

    __tablename__ = "provider_inbound"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime]
