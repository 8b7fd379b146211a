"""Apps of an account (bundle or package IDs) with their push credentials, and the devices that
installed them (one row per app install of a consumer)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from parlay.lib.db.base import Base, JSONType


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("account_id", "app_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(16))  # ios | android
    push_service: Mapped[str] = mapped_column(String(16))  # apns | fcm | proxy
    # The service's settings including its secrets (API casing). Secrets are never returned.
    credentials: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Device(Base):
    """One app install of a consumer. Registering is logging in."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("account_id", "consumer_id", "device_id"),
        # A push token belongs to one install: two registrations of one token at the same
        # instant cannot both keep it (apps.devices.register_device retries the loser).
        Index(
            "ux_devices_account_push_token",
            "account_id",
            "push_token_key",
            unique=True,
            sqlite_where=text("push_token_key IS NOT NULL"),
            postgresql_where=text("push_token_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    consumer_id: Mapped[str] = mapped_column(String(255))
    device_id: Mapped[str] = mapped_column(String(255))
    app_id: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(16))
    push_service: Mapped[str] = mapped_column(String(16))
    push_token: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    # SHA-256 of push_token, kept by the validator below: tokens are too long to index.
    push_token_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
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

    @validates("push_token")
    def _key_the_token(self, _: str, token: str | None) -> str | None:
        self.push_token_key = push_token_key(token)
        return token


def push_token_key(token: str | None) -> str | None:
    """What the uniqueness of a push token is checked on (None for no token)."""
    return hashlib.sha256(token.encode()).hexdigest() if token is not None else None
