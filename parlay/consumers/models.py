"""Consumers (one person known to a brand by in-app identity and/or phone), the numbers that
opted out of SMS and when each number last wrote on WhatsApp. Their app installs are
``parlay.apps.models.Device``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base


class Consumer(Base):
    """A person known to one account by in-app identity and/or phone; identities learned together
    (a C2M call naming both, a device registration with a phone) are linked in one row."""

    __tablename__ = "consumers"
    __table_args__ = (
        UniqueConstraint("account_id", "consumer_id"),
        UniqueConstraint("account_id", "phone"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    consumer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime]
    # When the consumer first logged in to the brand's app (None: never).
    first_login_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SmsOptOut(Base):
    """A number that replied STOP to this account; later SMS sends are SKIPPED (OPTED_OUT)."""

    __tablename__ = "sms_opt_outs"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    opted_out_at: Mapped[datetime]


class WhatsAppWindow(Base):
    """When the number last wrote to the account on WhatsApp: free text may be sent for 24 hours
    after it (the customer-service window), templates only otherwise."""

    __tablename__ = "whatsapp_windows"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_inbound_at: Mapped[datetime]
