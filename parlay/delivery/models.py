"""Campaigns, C2M calls and deliveries. The delivery table is also the work queue (SPEC §6-8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base, JSONType

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    skill: Mapped[str] = mapped_column(String(255))
    handoff_id: Mapped[str] = mapped_column(String(16))
    # The handoff as it was when the campaign was accepted: later edits do not change a send.
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


class Call(Base):
    """One C2M eligibility check; an invite sends on it (SPEC §6)."""

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
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Delivery(Base):
    """One outbound message to one consumer on one channel, and its place in the send queue.

    Queue columns: ``next_attempt_at`` (due time), ``lease_owner``/``lease_until`` (a worker's
    claim; an expired lease is claimed again), ``attempts``. Status only moves forward.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        # The claim query walks this: due, unleased work in priority order, per channel.
        Index(
            "ix_deliveries_queue",
            "channel",
            "priority",
            "next_attempt_at",
            "id",
            sqlite_where=text("status IN ('QUEUED', 'SCHEDULED')"),
            postgresql_where=text("status IN ('QUEUED', 'SCHEDULED')"),
        ),
        Index("ix_deliveries_campaign_status", "campaign_id", "status"),
        # Partial: a campaign of one channel pays for only one of these two.
        Index(
            "ix_deliveries_account_consumer",
            "account_id",
            "consumer_id",
            sqlite_where=text("consumer_id IS NOT NULL"),
            postgresql_where=text("consumer_id IS NOT NULL"),
        ),
        Index(
            "ix_deliveries_account_phone",
            "account_id",
            "phone",
            sqlite_where=text("phone IS NOT NULL"),
            postgresql_where=text("phone IS NOT NULL"),
        ),
        Index(
            "ix_deliveries_pending_expiry",
            "expires_at",
            sqlite_where=text("status IN ('QUEUED', 'SCHEDULED')"),
            postgresql_where=text("status IN ('QUEUED', 'SCHEDULED')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # PROACTIVE | IVR_DEFLECTION
    campaign_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    handoff_id: Mapped[str] = mapped_column(String(16))
    skill: Mapped[str] = mapped_column(String(255))
    # 0 = IVR invite (the priority lane), 10 = campaign.
    priority: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))
    consumer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    variables: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    # Set when the text differs from the campaign's or handoff's (an invite's overrideMessage).
    message_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    lookback_seconds: Mapped[int] = mapped_column(Integer)
    # attempted_time + lookback: not sent by then means EXPIRED.
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A retry-failed re-queue leaves this row as it was and points it at the new one.
    superseded_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    attempted_time: Mapped[datetime]
    scheduled_time: Mapped[datetime | None] = mapped_column(nullable=True)
    sent_time: Mapped[datetime | None] = mapped_column(nullable=True)
    delivered_time: Mapped[datetime | None] = mapped_column(nullable=True)
    read_time: Mapped[datetime | None] = mapped_column(nullable=True)
    failed_time: Mapped[datetime | None] = mapped_column(nullable=True)
    skipped_time: Mapped[datetime | None] = mapped_column(nullable=True)
    expired_time: Mapped[datetime | None] = mapped_column(nullable=True)
    cancelled_time: Mapped[datetime | None] = mapped_column(nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    conversation_created_time: Mapped[datetime | None] = mapped_column(nullable=True)
    conversation_closed_time: Mapped[datetime | None] = mapped_column(nullable=True)
