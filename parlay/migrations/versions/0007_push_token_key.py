"""a push token belongs to one device: devices.push_token_key, unique per account

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 11:30:00.000000

``push_token_key`` is the SHA-256 of ``push_token`` (tokens run to 4,096 characters, too long
for a PostgreSQL index entry), unique per account where set. Tokens held by several devices
today (two registrations at the same instant could both keep one) stay with the device that
registered most recently; the others lose it, as a later registration would have made them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column("devices", sa.Column("push_token_key", sa.String(64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, account_id, push_token FROM devices WHERE push_token IS NOT NULL "
            "ORDER BY updated_at DESC, id DESC"
        )
    ).all()
    keep: list[dict[str, object]] = []
    lose: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for device_id, account_id, token in rows:
        key = hashlib.sha256(token.encode()).hexdigest()
        if (account_id, key) in seen:
            lose.append({"id": device_id})
        else:
            seen.add((account_id, key))
            keep.append({"id": device_id, "key": key})
    for start in range(0, len(keep), _BATCH):
        conn.execute(
            sa.text("UPDATE devices SET push_token_key = :key WHERE id = :id"),
            keep[start : start + _BATCH],
        )
    for start in range(0, len(lose), _BATCH):
        conn.execute(
            sa.text("UPDATE devices SET push_token = NULL WHERE id = :id"),
            lose[start : start + _BATCH],
        )
    op.create_index(
        "ux_devices_account_push_token",
        "devices",
        ["account_id", "push_token_key"],
        unique=True,
        sqlite_where=sa.text("push_token_key IS NOT NULL"),
        postgresql_where=sa.text("push_token_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_devices_account_push_token", table_name="devices")
    op.execute("ALTER TABLE devices DROP COLUMN push_token_key")
