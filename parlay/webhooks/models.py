"""The tables of status webhooks: subscriptions, the outbox of events to send, the attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base, BigId, JSONType

ACTIVE = "active"
DISABLED = "disabled"


class WebhookSubscription(Base):
    """Where a brand wants its events POSTed, which ones, and the secret that signs them."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_account_state", "account_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    # Patterns: an event type ("delivery.sent") or a family ("delivery.*").
    events: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # {"enc": <Fernet token>} (parlay.lib.secretbox.Sealed): write-only, shown once at creation.
    secret: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16))  # active | disabled
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]


class WebhookOutboxEvent(Base):
    """One event to POST to one subscription, until a receiver answers 2xx (then deleted).

    Written in the transaction of the change it reports. The relay leases due rows
    (``lease_owner``/``lease_until``, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) so several workers
    send each once in the normal case; a lease that runs out (the worker died) is claimed again.
    A delivery event names its change (``delivery_id``, ``sequence``) and is rendered when sent; a
    conversation event carries its ``data``.
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        Index("ix_webhook_outbox_due", "next_attempt_at", "id"),
        Index("ix_webhook_outbox_subscription", "subscription_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    account_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(40))
    delivery_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookAttempt(Base):
    """One POST of an event to a subscription and what came of it (the last 100 are kept)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_subscription", "subscription_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(40))
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no answer
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    succeeded: Mapped[bool]
