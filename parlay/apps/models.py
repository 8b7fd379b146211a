"""Apps of an account (bundle or package IDs) and their push credentials (SPEC §9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base, JSONType


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
