"""conversations: messages, routing queue, agent state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 10:40:35.133917
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parlay.lib.db.base import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_conversation_messages_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_conversation_messages_agent_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
    )
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_messages_conversation", ["conversation_id", "id"], unique=False
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "context",
                sa.JSON(none_as_null=True).with_variant(
                    postgresql.JSONB(none_as_null=True), "postgresql"
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("queued_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("assigned_agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("accepted_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_message_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_conversations_agent",
            ["assigned_agent_id"],
            unique=False,
            sqlite_where=sa.text("state = 'OPEN'"),
            postgresql_where=sa.text("state = 'OPEN'"),
        )
        batch_op.create_index(
            "ix_conversations_queue",
            ["account_id", "skill", "queued_at"],
            unique=False,
            sqlite_where=sa.text("state = 'OPEN' AND assigned_agent_id IS NULL"),
            postgresql_where=sa.text("state = 'OPEN' AND assigned_agent_id IS NULL"),
        )
        batch_op.create_index(
            "uq_conversations_one_open_per_consumer",
            ["account_id", "consumer_id"],
            unique=True,
            sqlite_where=sa.text("state = 'OPEN' AND consumer_id IS NOT NULL"),
            postgresql_where=sa.text("state = 'OPEN' AND consumer_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_conversations_one_open_per_phone",
            ["account_id", "phone"],
            unique=True,
            sqlite_where=sa.text("state = 'OPEN' AND phone IS NOT NULL"),
            postgresql_where=sa.text("state = 'OPEN' AND phone IS NOT NULL"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_assigned_agent_id_users"),
            "users",
            ["assigned_agent_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("agent_state", sa.String(length=8), server_default="OFFLINE", nullable=False)
        )
        batch_op.add_column(sa.Column("agent_state_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("agent_state_at")
        batch_op.drop_column("agent_state")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_conversations_assigned_agent_id_users"), type_="foreignkey"
        )
        batch_op.drop_index(
            "uq_conversations_one_open_per_phone",
            sqlite_where=sa.text("state = 'OPEN' AND phone IS NOT NULL"),
            postgresql_where=sa.text("state = 'OPEN' AND phone IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_conversations_one_open_per_consumer",
            sqlite_where=sa.text("state = 'OPEN' AND consumer_id IS NOT NULL"),
            postgresql_where=sa.text("state = 'OPEN' AND consumer_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_conversations_queue",
            sqlite_where=sa.text("state = 'OPEN' AND assigned_agent_id IS NULL"),
            postgresql_where=sa.text("state = 'OPEN' AND assigned_agent_id IS NULL"),
        )
        batch_op.drop_index(
            "ix_conversations_agent",
            sqlite_where=sa.text("state = 'OPEN'"),
            postgresql_where=sa.text("state = 'OPEN'"),
        )
        batch_op.drop_column("last_message_at")
        batch_op.drop_column("closed_by")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assigned_agent_id")
        batch_op.drop_column("queued_at")
        batch_op.drop_column("context")
        batch_op.drop_column("source")
        batch_op.drop_column("delivery_id")

    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_messages_conversation")

    op.drop_table("conversation_messages")
