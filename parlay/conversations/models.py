"""Conversations between a consumer and the brand (SPEC §10). The outbound engine reads the open
ones (an open conversation blocks new outbound messages); the conversations domain writes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_open_consumer", "account_id", "consumer_id", "state"),
        Index("ix_conversations_open_phone", "account_id", "phone", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    consumer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(8))  # OPEN | CLOSED
    skill: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
