"""rate limits per API family and per consumer, instead of one per account

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:30:00.000000

An account's one ``rate_limit_per_second`` (default 3, shared by every family and every
consumer) becomes four limits: c2m 30, proactive 10, reporting 10 (LivePerson's published
limits, per account) and consumer 10 (per consumer). An account keeps a limit it had raised
above those defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFAULTS = {"c2m": 30, "proactive": 10, "reporting": 10, "consumer": 10}


# Plain ALTER TABLE (SQLite 3.35+ drops columns in place), never a batch "copy and move": on
# SQLite that drops and recreates ``accounts``, and with foreign keys on, dropping the parent
# table would cascade to every row that belongs to an account.


def upgrade() -> None:
    for family, default in _DEFAULTS.items():
        op.add_column(
            "accounts",
            sa.Column(
                f"rate_limit_{family}", sa.Integer(), server_default=str(default), nullable=False
            ),
        )
        op.execute(
            f"UPDATE accounts SET rate_limit_{family} = rate_limit_per_second "  # noqa: S608
            f"WHERE rate_limit_per_second > {default}"
        )
    op.execute("ALTER TABLE accounts DROP COLUMN rate_limit_per_second")


def downgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("rate_limit_per_second", sa.Integer(), server_default="3", nullable=False),
    )
    op.execute("UPDATE accounts SET rate_limit_per_second = rate_limit_c2m")
    for family in _DEFAULTS:
        op.execute(f"ALTER TABLE accounts DROP COLUMN rate_limit_{family}")
