"""LivePerson drop-in: exchanged and signed credentials, per-consumer campaign data, send windows

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 11:00:00.000000

- ``api_keys.kind`` (``bearer`` | ``oauth1``) with an OAuth 1.0a key's token and sealed secrets;
  ``api_key_tokens`` (bearer tokens exchanged for a key, digests only) and ``oauth_nonces``
  (the nonces each OAuth key used within the timestamp window).
- ``deliveries.header_variables`` and ``deliveries.sdes``: a campaign consumer's WhatsApp
  template media and structured data; ``campaigns.send_windows``; ``c2m_calls.invite_answer``
  (a repeated invite answers it again).

Every change is an ``ADD COLUMN`` or a new table, never a batch copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from parlay.lib.db.base import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("kind", sa.String(length=16), server_default="bearer", nullable=False),
    )
    op.add_column("api_keys", sa.Column("oauth_token", sa.String(length=64), nullable=True))
    op.add_column("api_keys", sa.Column("oauth_secrets", sa.Text(), nullable=True))
    op.create_index(op.f("ix_api_keys_oauth_token"), "api_keys", ["oauth_token"], unique=True)
    op.create_table(
        "api_key_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_tokens_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_api_key_tokens")),
    )
    op.create_index(
        op.f("ix_api_key_tokens_api_key_id"), "api_key_tokens", ["api_key_id"], unique=False
    )
    op.create_index(
        op.f("ix_api_key_tokens_expires_at"), "api_key_tokens", ["expires_at"], unique=False
    )
    op.create_table(
        "oauth_nonces",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_oauth_nonces_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "nonce", name=op.f("pk_oauth_nonces")),
    )
    op.create_index(
        op.f("ix_oauth_nonces_expires_at"), "oauth_nonces", ["expires_at"], unique=False
    )
    op.add_column("deliveries", sa.Column("header_variables", _json(), nullable=True))
    op.add_column("deliveries", sa.Column("sdes", _json(), nullable=True))
    op.add_column("campaigns", sa.Column("send_windows", _json(), nullable=True))
    op.add_column("c2m_calls", sa.Column("invite_answer", _json(), nullable=True))


def downgrade() -> None:
    op.drop_column("c2m_calls", "invite_answer")
    op.drop_column("campaigns", "send_windows")
    op.drop_column("deliveries", "sdes")
    op.drop_column("deliveries", "header_variables")
    op.drop_index(op.f("ix_oauth_nonces_expires_at"), table_name="oauth_nonces")
    op.drop_table("oauth_nonces")
    op.drop_index(op.f("ix_api_key_tokens_expires_at"), table_name="api_key_tokens")
    op.drop_index(op.f("ix_api_key_tokens_api_key_id"), table_name="api_key_tokens")
    op.drop_table("api_key_tokens")
    op.drop_index(op.f("ix_api_keys_oauth_token"), table_name="api_keys")
    op.drop_column("api_keys", "oauth_secrets")
    op.drop_column("api_keys", "oauth_token")
    op.drop_column("api_keys", "kind")
