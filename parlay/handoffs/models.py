"""The handoff table: a saved outbound configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base, JSONType

# A handoff that names no lookback period keeps its deliveries valid this long.
DEFAULT_LOOKBACK_DAYS = 30


class Handoff(Base):
    __tablename__ = "handoffs"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    skill: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lookback_period_day: Mapped[int] = mapped_column(Integer)
    lookback_period_hour: Mapped[int] = mapped_column(Integer)
    route_all_within_lookback: Mapped[bool] = mapped_column(Boolean, default=True)
    push_when_logged_in: Mapped[bool] = mapped_column(Boolean, default=True)
    push_when_logged_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ordered by priority; each {type, outboundNumber?, appIds?, messageText?, ...} in API casing.
    channels: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Soft delete: campaigns and calls that named the handoff keep their history.
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def lookback_seconds(self) -> int:
        return lookback_seconds(self.lookback_period_day, self.lookback_period_hour)


def lookback_seconds(days: int, hours: int) -> int:
    """A handoff's lookback period in seconds."""
    return (days * 24 + hours) * 3600
