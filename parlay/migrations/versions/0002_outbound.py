"""outbound: campaigns, calls, deliveries queue; consumers, devices, conversations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 08:34:13.231473
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parlay.lib.db.base import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "c2m_calls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("handoff_id", sa.String(length=16), nullable=False),
        sa.Column(
            "handoff_snapshot",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("skill", sa.String(length=255), nullable=False),
        sa.Column("consumer_phone", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=255), nullable=True),
        sa.Column("ivr_number", sa.String(length=32), nullable=True),
        sa.Column(
            "template_variables",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "sdes",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "eligibility",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_c2m_calls_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_c2m_calls")),
    )
    with op.batch_alter_table("c2m_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_c2m_calls_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("skill", sa.String(length=255), nullable=False),
        sa.Column("handoff_id", sa.String(length=16), nullable=False),
        sa.Column(
            "handoff_snapshot",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("outbound_number", sa.String(length=16), nullable=True),
        sa.Column("message_text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_trace_id", sa.String(length=64), nullable=False),
        sa.Column("accepted_consumers", sa.Integer(), nullable=False),
        sa.Column("failed_consumers", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_campaigns_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaigns_account_created", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_campaigns_status"), ["status"], unique=False)

    op.create_table(
        "consumers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("consumer_id", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_login_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_consumers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumers")),
        sa.UniqueConstraint(
            "account_id", "consumer_id", name=op.f("uq_consumers_account_id_consumer_id")
        ),
        sa.UniqueConstraint("account_id", "phone", name=op.f("uq_consumers_account_id_phone")),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("consumer_id", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("skill", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_conversations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_open_consumer", ["account_id", "consumer_id", "state"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_open_phone", ["account_id", "phone", "state"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=True),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("handoff_id", sa.String(length=16), nullable=False),
        sa.Column("skill", sa.String(length=255), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("consumer_id", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column(
            "variables",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("message_text", sa.Text(), nullable=True),
        sa.Column("lookback_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_source", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column(
            "superseded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("attempted_time", UTCDateTime(timezone=True), nullable=False),
        sa.Column("scheduled_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("skipped_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("expired_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("conversation_id", sa.String(length=36), nullable=True),
        sa.Column("conversation_created_time", UTCDateTime(timezone=True), nullable=True),
        sa.Column("conversation_closed_time", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_deliveries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_account_consumer",
            ["account_id", "consumer_id"],
            unique=False,
            sqlite_where=sa.text("consumer_id IS NOT NULL"),
            postgresql_where=sa.text("consumer_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_deliveries_account_phone",
            ["account_id", "phone"],
            unique=False,
            sqlite_where=sa.text("phone IS NOT NULL"),
            postgresql_where=sa.text("phone IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_deliveries_campaign_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_deliveries_pending_expiry",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
        )
        batch_op.create_index(
            "ix_deliveries_queue",
            ["channel", "priority", "next_attempt_at", "id"],
            unique=False,
            sqlite_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
        )

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("consumer_id", sa.String(length=255), nullable=False),
        sa.Column("device_id", sa.String(length=255), nullable=False),
        sa.Column("app_id", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("push_service", sa.String(length=16), nullable=False),
        sa.Column("push_token", sa.String(length=4096), nullable=True),
        sa.Column("token_disabled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("logged_in", sa.Boolean(), nullable=False),
        sa.Column("logout_mode", sa.String(length=8), nullable=True),
        sa.Column("os_version", sa.String(length=64), nullable=True),
        sa.Column("device_model", sa.String(length=128), nullable=True),
        sa.Column("sdk_version", sa.String(length=64), nullable=True),
        sa.Column("country", sa.String(length=64), nullable=True),
        sa.Column("city", sa.String(length=128), nullable=True),
        sa.Column("registered_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_devices_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint(
            "account_id",
            "consumer_id",
            "device_id",
            name=op.f("uq_devices_account_id_consumer_id_device_id"),
        ),
    )
    op.create_table(
        "sms_opt_outs",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("opted_out_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_sms_opt_outs_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "phone", name=op.f("pk_sms_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("sms_opt_outs")
    op.drop_table("devices")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deliveries_queue",
            sqlite_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
        )
        batch_op.drop_index(
            "ix_deliveries_pending_expiry",
            sqlite_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'SCHEDULED')"),
        )
        batch_op.drop_index("ix_deliveries_campaign_status")
        batch_op.drop_index(
            "ix_deliveries_account_phone",
            sqlite_where=sa.text("phone IS NOT NULL"),
            postgresql_where=sa.text("phone IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_deliveries_account_consumer",
            sqlite_where=sa.text("consumer_id IS NOT NULL"),
            postgresql_where=sa.text("consumer_id IS NOT NULL"),
        )

    op.drop_table("deliveries")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_open_phone")
        batch_op.drop_index("ix_conversations_open_consumer")

    op.drop_table("conversations")
    op.drop_table("consumers")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_status"))
        batch_op.drop_index("ix_campaigns_account_created")

    op.drop_table("campaigns")
    with op.batch_alter_table("c2m_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_c2m_calls_expires_at"))

    op.drop_table("c2m_calls")
