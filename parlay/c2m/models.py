"""The C2M call table: one eligibility check of an IVR caller, which an invite sends on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base, BigId, JSONType


class Call(Base):
    """One C2M eligibility check; an invite sends on it."""

    __tablename__ = "c2m_calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    handoff_id: Mapped[str] = mapped_column(String(16))
    handoff_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)
    skill: Mapped[str] = mapped_column(String(255))
    consumer_phone: Mapped[str] = mapped_column(String(16))
    consumer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ivr_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    template_variables: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    sdes: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    # {availableChannels, recommendedChannelName, ineligibleChannels} as answered.
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSONType)
    delivery_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # The first invite's answer: a repeated invite on the call gets it back and sends nothing.
    invite_answer: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
