"""counts kept for the web pages: a campaign's recipients by status, the funnel per hour

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 17:10:00.000000

``campaign_status_counts``: how many of a campaign's current deliveries (each recipient as its
latest attempt) are in each status (a pending one as QUEUED, whether or not it waits for a send
window), moved by the lifecycle in the same transaction as the
change (``parlay.delivery.counts``). Filled here by counting the deliveries that exist.

``delivery_hour_counts`` and ``delivery_hour_reason_counts``: the funnel of ``delivery_counts``
and ``delivery_reason_counts`` summed per hour (hour = slot // 4), kept by the same writes; a
month's report reads a quarter of the rows. Filled here from the slots.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_METRICS = (
    "attempted",
    "eligible",
    "skipped",
    "sent",
    "failed",
    "delivered",
    "read",
    "conversations_created",
    "conversations_closed",
    "csat_sum",
    "csat_count",
)


def _key(table: str) -> list[sa.Column[object]]:
    return [
        sa.Column(
            "account_id",
            sa.String(64),
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name=op.f(f"fk_{table}_account_id_accounts")
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("skill", sa.String(255), nullable=False),
    ]


_KEY = "account_id, source, hour, channel, skill"
_FROM_SLOTS = "account_id, source, slot / 4, channel, skill"


def upgrade() -> None:
    op.create_table(
        "delivery_hour_counts",
        *_key("delivery_hour_counts"),
        *(sa.Column(m, sa.Integer(), nullable=False) for m in _METRICS),
        sa.PrimaryKeyConstraint(
            "account_id",
            "source",
            "hour",
            "channel",
            "skill",
            name=op.f("pk_delivery_hour_counts"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "delivery_hour_reason_counts",
        *_key("delivery_hour_reason_counts"),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id",
            "source",
            "hour",
            "channel",
            "skill",
            "error_code",
            name=op.f("pk_delivery_hour_reason_counts"),
        ),
        sqlite_with_rowid=False,
    )
    sums = ", ".join(f"SUM({m})" for m in _METRICS)
    op.execute(
        f"INSERT INTO delivery_hour_counts ({_KEY}, {', '.join(_METRICS)}) "  # noqa: S608
        f"SELECT {_FROM_SLOTS}, {sums} FROM delivery_counts GROUP BY {_FROM_SLOTS}"
    )
    op.execute(
        f"INSERT INTO delivery_hour_reason_counts ({_KEY}, error_code, n) "  # noqa: S608
        f"SELECT {_FROM_SLOTS}, error_code, SUM(n) FROM delivery_reason_counts "
        f"GROUP BY {_FROM_SLOTS}, error_code"
    )
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
    op.drop_table("delivery_hour_reason_counts")
    op.drop_table("delivery_hour_counts")
