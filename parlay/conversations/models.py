"""Conversations between a consumer and the brand, and their messages.

The outbound engine reads the open ones (an open conversation blocks new outbound messages);
the conversations domain writes them. A consumer has at most one open conversation per identity:
partial unique indexes make a second one impossible even when two first messages race.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base, BigId, JSONType

# A conversation's states.
OPEN, CLOSED = "OPEN", "CLOSED"
_OPEN = text("state = 'OPEN'")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_open_consumer", "account_id", "consumer_id", "state"),
        Index("ix_conversations_open_phone", "account_id", "phone", "state"),
        Index(
            "uq_conversations_one_open_per_consumer",
            "account_id",
            "consumer_id",
            unique=True,
            sqlite_where=text("state = 'OPEN' AND consumer_id IS NOT NULL"),
            postgresql_where=text("state = 'OPEN' AND consumer_id IS NOT NULL"),
        ),
        Index(
            "uq_conversations_one_open_per_phone",
            "account_id",
            "phone",
            unique=True,
            sqlite_where=text("state = 'OPEN' AND phone IS NOT NULL"),
            postgresql_where=text("state = 'OPEN' AND phone IS NOT NULL"),
        ),
        # The skill queues: open, unassigned, oldest first.
        Index(
            "ix_conversations_queue",
            "account_id",
            "skill",
            "queued_at",
            sqlite_where=text("state = 'OPEN' AND assigned_agent_id IS NULL"),
            postgresql_where=text("state = 'OPEN' AND assigned_agent_id IS NULL"),
        ),
        # An agent's load: their open conversations.
        Index(
            "ix_conversations_agent",
            "assigned_agent_id",
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
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
    # The delivery whose reply opened it (None: unattributed) and that delivery's source.
    delivery_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The context (campaign, consumer) as it was when the conversation opened.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Waiting in the skill's queue since (None while assigned); FIFO order within the skill.
    queued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    assigned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(16), nullable=True)  # agent | consumer
    last_message_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The consumer's rating of the closed conversation, 1-5 (CSAT), once.
    csat_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    csat_time: Mapped[datetime | None] = mapped_column(nullable=True)


class Message(Base):
    """One message of a conversation; ``outbound`` is the delivery that started it."""

    __tablename__ = "conversation_messages"
    __table_args__ = (Index("ix_conversation_messages_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(16))  # consumer|agent|bot|system|outbound
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    delivery_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
