"""The campaign table: one proactive send to 1-100,000 consumers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base, JSONType


class CampaignStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


# A campaign still sending: it takes more consumers and can be cancelled.
ACTIVE = (CampaignStatus.ACCEPTED, CampaignStatus.IN_PROGRESS)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    skill: Mapped[str] = mapped_column(String(255))
    handoff_id: Mapped[str] = mapped_column(String(16))
    # The handoff as it was when the campaign was accepted (``HandoffSnapshot.to_json``): later
    # edits do not change a send.
    handoff_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)
    outbound_number: Mapped[str | None] = mapped_column(String(16), nullable=True)
    message_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    request_trace_id: Mapped[str] = mapped_column(String(64))
    accepted_consumers: Mapped[int] = mapped_column(Integer, default=0)
    failed_consumers: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # schedulingMetrics.windows as accepted: [{day, start: "HH:MM", end: "HH:MM"}] in the
    # recipient's local time; None sends at any time (SMS quiet hours still apply).
    send_windows: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
