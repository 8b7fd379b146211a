"""The key check: one value encrypted with ``PARLAY_SECRET_KEY`` so that a process started with
keys that cannot read this database's secrets stops at once (``check.check_key``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base


class SecretKeyCheck(Base):
    __tablename__ = "secret_key_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one row
    token: Mapped[str] = mapped_column(Text)  # a known text, encrypted
    updated_at: Mapped[datetime]
