"""reporting: delivery counts kept with each change, CSAT ratings, the account's time zone

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 11:30:00.000000

``delivery_counts`` and ``delivery_reason_counts`` hold each outbound delivery's funnel per
15-minute slot of its attempt × source × channel × skill (``parlay.delivery.counts``); they are
filled here from the deliveries that exist, with the same rule the lifecycle applies from now
on. ``conversations`` gains the consumer's rating (``csat_score``, ``csat_time``), ``accounts``
its ``time_zone`` (IANA name; reports split days in it), and ``deliveries`` two indexes: an
account's deliveries by attempt time (the transactions report) and a campaign's current
recipients in order (the campaign report).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "account_id",
            sa.String(64),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("slot", sa.BigInteger(), primary_key=True),
        sa.Column("channel", sa.String(8), primary_key=True),
        sa.Column("skill", sa.String(255), primary_key=True),
    ]


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


def upgrade() -> None:
    op.create_table(
        "delivery_counts",
        *_key(),
        *(sa.Column(m, sa.Integer(), nullable=False) for m in _METRICS),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "delivery_reason_counts",
        *_key(),
        sa.Column("error_code", sa.String(64), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.add_column("conversations", sa.Column("csat_score", sa.Integer(), nullable=True))
    op.add_column(
        "conversations", sa.Column("csat_time", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "accounts",
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
    )
    op.create_index(
        "ix_deliveries_account_attempted",
        "deliveries",
        ["account_id", "source", "attempted_time", "id"],
    )
    op.create_index(
        "ix_deliveries_campaign_current",
        "deliveries",
        ["campaign_id", "id"],
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    )
    _fill_counts()


def _fill_counts() -> None:
    """Count the deliveries that exist, by the rule of ``parlay.delivery.counts`` (imported:
    the rule is one function, and this revision is the first to use it)."""
    from parlay.delivery import counts

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT account_id, source, attempted_time, channel, skill, status, error_code, "
            "conversation_closed_time IS NOT NULL, sent_time IS NOT NULL, COUNT(*) FROM deliveries "
            "WHERE superseded_by IS NULL AND source IN ('PROACTIVE', 'IVR_DEFLECTION') "
            "GROUP BY account_id, source, attempted_time, channel, skill, status, error_code, "
            "conversation_closed_time IS NOT NULL, sent_time IS NOT NULL"
        )
    ).all()
    funnel: dict[tuple[object, ...], list[int]] = {}
    reasons: dict[tuple[object, ...], int] = {}
    for account, source, attempted, channel, skill, status, code, closed, sent, n in rows:
        if isinstance(attempted, str):
            attempted = datetime.fromisoformat(attempted)
        if attempted.tzinfo is None:
            attempted = attempted.replace(tzinfo=UTC)
        key = (account, source, counts.slot_of(attempted), channel, skill)
        state = counts.State(status, code, bool(closed), bool(sent))
        row = funnel.setdefault(key, [0] * len(counts.METRICS))
        for i, v in enumerate(counts.funnel(state)):
            row[i] += v * n
        if (why := counts.reason(state)) is not None:
            reasons[(*key, why)] = reasons.get((*key, why), 0) + n
    names = ("account_id", "source", "slot", "channel", "skill")
    if funnel:
        op.bulk_insert(
            sa.table("delivery_counts", *(sa.column(c) for c in (*names, *_METRICS))),
            [
                {
                    **dict(zip(names, key, strict=True)),
                    **dict(zip(_METRICS, [*v, 0, 0], strict=True)),
                }
                for key, v in funnel.items()
            ],
        )
    if reasons:
        op.bulk_insert(
            sa.table(
                "delivery_reason_counts", *(sa.column(c) for c in (*names, "error_code", "n"))
            ),
            [
                {**dict(zip((*names, "error_code"), key, strict=True)), "n": n}
                for key, n in reasons.items()
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_deliveries_campaign_current", table_name="deliveries")
    op.drop_index("ix_deliveries_account_attempted", table_name="deliveries")
    op.execute("ALTER TABLE accounts DROP COLUMN time_zone")
    op.execute("ALTER TABLE conversations DROP COLUMN csat_time")
    op.execute("ALTER TABLE conversations DROP COLUMN csat_score")
    op.drop_table("delivery_reason_counts")
    op.drop_table("delivery_counts")
