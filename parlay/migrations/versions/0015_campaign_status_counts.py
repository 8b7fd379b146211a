"""campaign status counts kept with each change

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 17:10:00.000000

``campaign_status_counts``: how many of a campaign's current deliveries (each recipient as its
latest attempt) are in each status (a pending one as QUEUED, whether or not it waits for a send
window), moved by the lifecycle in the same transaction as the
change (``parlay.delivery.counts``). Filled here by counting the deliveries that exist.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_status_counts",
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "account_id",
            sa.String(64),
            sa.ForeignKey(
                "accounts.id",
                ondelete="CASCADE",
                name=op.f("fk_campaign_status_counts_account_id_accounts"),
            ),
            nullable=False,
        ),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "status", name=op.f("pk_campaign_status_counts")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        op.f("ix_campaign_status_counts_account_id"), "campaign_status_counts", ["account_id"]
    )
    op.execute(
        "INSERT INTO campaign_status_counts (campaign_id, status, account_id, n) "
        "SELECT campaign_id, kept, MIN(account_id), COUNT(*) FROM ("
        "SELECT campaign_id, account_id, "
        "CASE WHEN status = 'SCHEDULED' THEN 'QUEUED' ELSE status END AS kept "
        "FROM deliveries WHERE campaign_id IS NOT NULL AND superseded_by IS NULL "
        "AND source IN ('PROACTIVE', 'IVR_DEFLECTION')) AS current "
        "GROUP BY campaign_id, kept"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_status_counts_account_id"), "campaign_status_counts")
    op.drop_table("campaign_status_counts")
