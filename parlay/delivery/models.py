"""The delivery table (one outbound message to one consumer, and the dispatcher's work queue) and
the durable record of every change of a delivery's status (``delivery_events``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.delivery.status import PENDING_SQL
from parlay.lib.db.base import Base, BigId, JSONType


class Delivery(Base):
    """One outbound message to one consumer on one channel, and its place in the send queue.

    Queue columns: ``next_attempt_at`` (due time), ``lease_owner``/``lease_until`` (a worker's
    claim; an expired lease is claimed again), ``attempts``. Status only moves forward, and only
    ``parlay.delivery.lifecycle`` moves it; ``version`` counts the changes it recorded.
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
            sqlite_where=text(PENDING_SQL),
            postgresql_where=text(PENDING_SQL),
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
        # A campaign's current recipients in order (the campaign report pages by offset).
        Index(
            "ix_deliveries_campaign_current",
            "campaign_id",
            "id",
            sqlite_where=text("superseded_by IS NULL"),
            postgresql_where=text("superseded_by IS NULL"),
        ),
        # An account's deliveries by attempt time (the transactions report).
        Index("ix_deliveries_account_attempted", "account_id", "source", "attempted_time", "id"),
        Index(
            "ix_deliveries_pending_expiry",
            "expires_at",
            sqlite_where=text(PENDING_SQL),
            postgresql_where=text(PENDING_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # PROACTIVE | IVR_DEFLECTION | CONVERSATION
    campaign_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # "" for a conversation's push (it has no handoff): NOT NULL stays, since making the column
    # nullable would copy the whole table on SQLite.
    handoff_id: Mapped[str] = mapped_column(String(16))
    skill: Mapped[str] = mapped_column(String(255))
    # 0 = IVR invite or a conversation's push (the priority lane), 10 = campaign.
    priority: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))
    consumer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    variables: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    # Set when the text differs from the campaign's or handoff's (an invite's overrideMessage);
    # a conversation's push carries its message's text here.
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
    # The conversation an outbound message started (REPLIED), or the one a push belongs to.
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # A conversation's push: the agent's or bot's message it carries (conversation_messages.id).
    message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    conversation_created_time: Mapped[datetime | None] = mapped_column(nullable=True)
    conversation_closed_time: Mapped[datetime | None] = mapped_column(nullable=True)
    # A WhatsApp message that could not be delivered sent again as SMS: the WhatsApp delivery
    # this one falls back from (the consumer is counted once, on the first).
    fallback_of: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # How many changes ``delivery_events`` holds for this delivery: the sequence of the last one.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class DeliveryEvent(Base):
    """One change of one delivery, written in the same transaction as the change itself.

    ``kind`` is the status reached (``SENT``, ``FAILED``, ...) or a change beside the status
    (``CONVERSATION_CLOSED``, ``SUPERSEDED``); ``sequence`` numbers one delivery's events from 1
    (the delivery's ``version`` after the change), so a reader can order them and drop stale
    ones. ``id`` orders all events, but across concurrent transactions an event with a smaller id
    may commit later: readers must not use ids as a high-water mark (see docs/architecture.md).
    A delivery's creation is not an event: its row, with ``attemptedTime``, is that record.
    """

    __tablename__ = "delivery_events"
    __table_args__ = (
        Index("uq_delivery_events_delivery_sequence", "delivery_id", "sequence", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(BigId)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))  # the delivery's status after the change
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    occurred_at: Mapped[datetime]
