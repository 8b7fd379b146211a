"""Consumers and their app devices: who can be reached in-app, and how (SPEC §2, §9).

The outbound engine reads these at send time; the consumer API (App Messaging) writes them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base


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


class Device(Base):
    """One app install of a consumer. Registering is logging in (SPEC §9)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("account_id", "consumer_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    consumer_id: Mapped[str] = mapped_column(String(255))
    device_id: Mapped[str] = mapped_column(String(255))
    app_id: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(16))
    push_service: Mapped[str] = mapped_column(String(16))
    push_token: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    # Set when the provider said the token is dead (APNs 410, FCM UNREGISTERED).
    token_disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    logged_in: Mapped[bool] = mapped_column(Boolean, default=True)
    # ALL: no pushes; NONE: all pushes; AGENT: outbound (proactive/IVR) pushes only.
    logout_mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    os_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device_model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sdk_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    country: Mapped[str | None] = mapped_column(String(64), nullable=True)
    city: Mapped[str | None] = mapped_column(String(128), nullable=True)
    registered_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SmsOptOut(Base):
    """A number that replied STOP to this account; later SMS sends are SKIPPED (OPTED_OUT)."""

    __tablename__ = "sms_opt_outs"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    opted_out_at: Mapped[datetime]
