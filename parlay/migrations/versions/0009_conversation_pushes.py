"""conversation pushes: an agent's or bot's message pushed to a backgrounded app is a delivery

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00.000000

A push of a conversation's message (``source`` ``CONVERSATION``, ``backendService`` ``ams``) is a
delivery of the in-app channel with no campaign, call or handoff (``handoff_id`` is ``""``: the
column stays NOT NULL, since SQLite could only relax it by copying the table). It names its
conversation in the existing ``conversation_id`` and its message in the new ``message_id``.

Added in place (``ALTER TABLE ... ADD COLUMN``), never by a batch copy of ``deliveries``. The
downgrade removes these pushes with their events first: the code before this revision has no
reading of them (it would take one for an outbound message a consumer answers).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("message_id", _BIG_ID, nullable=True))


def downgrade() -> None:
    op.execute(
        "DELETE FROM delivery_events WHERE delivery_id IN "
        "(SELECT id FROM deliveries WHERE source = 'CONVERSATION')"
    )
    op.execute("DELETE FROM deliveries WHERE source = 'CONVERSATION'")
    # In place (SQLite 3.35+), never a batch copy of the deliveries table.
    op.execute("ALTER TABLE deliveries DROP COLUMN message_id")
