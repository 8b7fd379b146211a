"""sms and whatsapp: provider accounts, the WhatsApp window, inbound messages taken, fallbacks

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 11:00:00.000000

``channel_accounts`` holds each account's Twilio and WhatsApp settings (secrets sealed, like the
apps' push credentials); ``whatsapp_windows`` when each number last wrote on WhatsApp;
``provider_inbound`` the inbound provider messages already written (webhooks come at least
once). ``deliveries.fallback_of`` links an SMS sent because WhatsApp could not deliver to the
WhatsApp delivery it replaces; added in place, never by a batch copy of ``deliveries``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parlay.lib.db.base import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _account(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"],
        ["accounts.id"],
        name=op.f(f"fk_{table}_account_id_accounts"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "channel_accounts",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        _account("channel_accounts"),
        sa.PrimaryKeyConstraint("account_id", "channel", name=op.f("pk_channel_accounts")),
    )
    op.create_table(
        "whatsapp_windows",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("last_inbound_at", UTCDateTime(timezone=True), nullable=False),
        _account("whatsapp_windows"),
        sa.PrimaryKeyConstraint("account_id", "phone", name=op.f("pk_whatsapp_windows")),
    )
    op.create_table(
        "provider_inbound",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        _account("provider_inbound"),
        sa.PrimaryKeyConstraint(
            "account_id", "provider", "message_id", name=op.f("pk_provider_inbound")
        ),
    )
    op.add_column("deliveries", sa.Column("fallback_of", _BIG_ID, nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35+), never a batch copy of the deliveries table.
    op.execute("ALTER TABLE deliveries DROP COLUMN fallback_of")
    op.drop_table("provider_inbound")
    op.drop_table("whatsapp_windows")
    op.drop_table("channel_accounts")
