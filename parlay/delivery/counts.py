"""Delivery counts kept in step with every change: the funnel the Reporting API reads.

Each outbound delivery (a campaign's or an invite's; a conversation's own pushes are not
counted) adds to one row of ``delivery_counts``, keyed by its account, source, the 15-minute slot
its ``attemptedTime`` falls in (UTC), channel and skill. Each stage it reached is one column;
failures and skips also count their ``errorCode`` in ``delivery_reason_counts``. The writers of
``parlay.delivery.lifecycle`` move the counts in the same transaction as the change itself, so a
report is never behind the deliveries it counts, and a crash can't split the two.

What a delivery counts toward is a pure function of its state (``funnel``); a change moves its
counts from the old state's to the new one's. A report of any window is the sum of its slots, and
15-minute slots fall on every local midnight of every time zone in use, so days in the account's
zone are whole sums. Why counts are kept rather than read from the deliveries at report time:
docs/architecture.md, "Reporting reads counts kept with each change" (the measurement).

The same counts are also kept per hour (``delivery_hour_counts``, ``delivery_hour_reason_counts``,
hour = slot // 4): a month read from them is a quarter of the rows, which is what brings the
30-day dashboard under 100 ms; the slots stay for zones whose offset is not a whole hour and
for the pieces of a window that are not whole hours.

A campaign's recipients by status (each recipient as its latest attempt: a retried or fallen-back
delivery leaves them) are kept the same way in ``campaign_status_counts``, moved by the same
changes: the campaign pages and the campaign API read them instead of counting 100,000 rows on
every poll.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from parlay.delivery.status import (
    OUTBOUND_SOURCES,
    TERMINAL_FAILURES,
    DeliveryStatus,
    ErrorCode,
)
from parlay.lib.db.base import Base

SLOT_SECONDS = 15 * 60
SLOTS_PER_HOUR = 4

# The funnel's columns, in the order ``funnel`` returns them.
METRICS = (
    "attempted",
    "eligible",
    "skipped",
    "sent",
    "failed",
    "delivered",
    "read",
    "conversations_created",
    "conversations_closed",
)

S = DeliveryStatus
_SENT = frozenset({S.SENT, S.DELIVERED, S.READ, S.REPLIED})
_DELIVERED = frozenset({S.DELIVERED, S.READ, S.REPLIED})
_READ = frozenset({S.READ, S.REPLIED})
_FAILED = frozenset({S.FAILED, S.EXPIRED})
# Failures that prove the message passed Parlay's checks and reached a provider.
PROVIDER_FAILURES = frozenset(
    {ErrorCode.PROVIDER_REJECTED, ErrorCode.PROVIDER_UNAVAILABLE, ErrorCode.TOKEN_UNREGISTERED}
)


class Funnel:
    """The columns of a funnel row: one count per stage, and the ratings."""

    attempted: Mapped[int] = mapped_column(Integer, default=0)
    eligible: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    read: Mapped[int] = mapped_column(Integer, default=0)
    conversations_created: Mapped[int] = mapped_column(Integer, default=0)
    conversations_closed: Mapped[int] = mapped_column(Integer, default=0)
    # The consumers' ratings of the conversations these deliveries started (average = sum/count).
    csat_sum: Mapped[int] = mapped_column(Integer, default=0)
    csat_count: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryCount(Funnel, Base):
    """One slot's funnel for one source × channel × skill of an account."""

    __tablename__ = "delivery_counts"
    # Clustered by key on SQLite too: a report reads a range of slots in key order.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's declaration

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Unix time of the slot's start / SLOT_SECONDS.
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    skill: Mapped[str] = mapped_column(String(255), primary_key=True)


class DeliveryReasonCount(Base):
    """How many of one slot's failed or skipped deliveries carry each ``errorCode``."""

    __tablename__ = "delivery_reason_counts"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's declaration

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    skill: Mapped[str] = mapped_column(String(255), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryHourCount(Funnel, Base):
    """The funnel of ``delivery_counts`` summed per hour (its four slots)."""

    __tablename__ = "delivery_hour_counts"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's declaration

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Unix time of the hour's start / 3600.
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    skill: Mapped[str] = mapped_column(String(255), primary_key=True)


class DeliveryHourReasonCount(Base):
    """``delivery_reason_counts`` summed per hour."""

    __tablename__ = "delivery_hour_reason_counts"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's declaration

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    skill: Mapped[str] = mapped_column(String(255), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class CampaignStatusCount(Base):
    """How many of a campaign's current deliveries (not superseded) are in each status; QUEUED
    counts every pending one, SCHEDULED included (see ``campaign_status``)."""

    __tablename__ = "campaign_status_counts"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's declaration

    campaign_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    n: Mapped[int] = mapped_column(Integer, default=0)


# --- what a delivery counts toward ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    """The part of a delivery's state its counts depend on."""

    status: str
    error_code: str | None = None
    closed: bool = False  # the conversation it started was closed
    sent: bool = False  # a provider accepted it (``sentTime``), even if it failed later


QUEUED = State(S.QUEUED.value)


def funnel(state: State) -> tuple[int, ...]:
    """The stages this state counts toward, as 0/1 in the order of ``METRICS``.

    A later stage implies the earlier ones (a read message was delivered and sent); a message a
    provider refused still passed Parlay's checks (eligible); a message a provider accepted and
    then reported undelivered counts as sent and as failed; EXPIRED counts as failed.
    """
    status = DeliveryStatus(state.status)
    sent = status in _SENT or (status == S.FAILED and state.sent)
    eligible = sent or (status == S.FAILED and state.error_code in PROVIDER_FAILURES)
    return (
        1,
        int(eligible),
        int(status == S.SKIPPED),
        int(sent),
        int(status in _FAILED),
        int(status in _DELIVERED),
        int(status in _READ),
        int(status == S.REPLIED),
        int(status == S.REPLIED and state.closed),
    )


def reason(state: State) -> str | None:
    """The ``errorCode`` a failed, skipped, expired or cancelled delivery is counted under."""
    if DeliveryStatus(state.status) in TERMINAL_FAILURES:
        return state.error_code or "UNKNOWN"
    return None


def campaign_status(status: str) -> str:
    """The row of ``campaign_status_counts`` a status counts in: a pending delivery counts as
    QUEUED whether or not it waits for a send window (SCHEDULED). An outcome doesn't know
    which of the two it left (its UPDATE returns only the new row), so the kept counts hold
    their sum, and a reader splits it by counting the few SCHEDULED rows by index."""
    return S.QUEUED.value if status == S.SCHEDULED.value else status


def slot_of(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp()) // SLOT_SECONDS


def slot_start(slot: int) -> datetime:
    return datetime.fromtimestamp(slot * SLOT_SECONDS, UTC)


@dataclass(frozen=True, slots=True)
class Key:
    """The row of ``delivery_counts`` a delivery adds to, and its campaign (if any): the
    campaign's row of ``campaign_status_counts`` is chosen by the delivery's status."""

    account_id: str
    source: str
    slot: int
    channel: str
    skill: str
    campaign_id: str | None = None

    @classmethod
    def of(
        cls,
        account_id: str,
        source: str,
        attempted: datetime,
        channel: str,
        skill: str,
        campaign_id: str | None = None,
    ) -> Key | None:
        """None for a delivery that is not counted (a conversation's push)."""
        if source not in OUTBOUND_SOURCES:
            return None
        return cls(account_id, source, slot_of(attempted), channel, skill, campaign_id)

    @classmethod
    def in_slot(
        cls,
        account_id: str,
        source: str,
        channel: str,
        skill: str,
        slot: int,
        campaign_id: str | None = None,
    ) -> Key | None:
        """The same, with the slot computed by the database."""
        if source not in OUTBOUND_SOURCES:
            return None
        return cls(account_id, source, int(slot), channel, skill, campaign_id)

    def funnel_row(self) -> Key:
        """The key without its campaign: the funnel's rows are not per campaign."""
        return self if self.campaign_id is None else replace(self, campaign_id=None)


# --- moving counts ----------------------------------------------------------------------------


class Tally:
    """The count changes of one transaction, summed per row, written by ``flush``."""

    def __init__(self) -> None:
        self._funnel: dict[Key, list[int]] = defaultdict(lambda: [0] * len(METRICS))
        self._reasons: dict[tuple[Key, str], int] = defaultdict(int)
        self._csat: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
        self._campaigns: dict[tuple[str, str, str], int] = defaultdict(int)

    def move(self, key: Key | None, before: State | None, after: State | None, n: int = 1) -> None:
        """``n`` deliveries of ``key`` went from ``before`` to ``after`` (None: not counted:
        before creation, or after being superseded by a retry)."""
        if key is None or before == after:
            return
        if key.campaign_id is not None:
            campaign = (key.campaign_id, key.account_id)
            if before is not None:
                self._campaigns[(*campaign, campaign_status(before.status))] -= n
            if after is not None:
                self._campaigns[(*campaign, campaign_status(after.status))] += n
            key = key.funnel_row()
        row = self._funnel[key]
        if before is not None:
            for i, v in enumerate(funnel(before)):
                row[i] -= v * n
            if (code := reason(before)) is not None:
                self._reasons[(key, code)] -= n
        if after is not None:
            for i, v in enumerate(funnel(after)):
                row[i] += v * n
            if (code := reason(after)) is not None:
                self._reasons[(key, code)] += n

    def rate(self, key: Key | None, score: int) -> None:
        if key is not None:
            row = self._csat[key.funnel_row()]
            row[0] += score
            row[1] += 1

    async def flush(self, session: AsyncSession) -> None:
        """Add the changes to the stored counts, in key order (concurrent writers of the same
        rows then lock them in the same order and cannot deadlock): per slot, then per hour."""
        funnel: dict[Key, list[int]] = {}
        for key in set(self._funnel) | set(self._csat):
            values = self._funnel.get(key, [0] * len(METRICS))
            csat = self._csat.get(key, [0, 0])
            if any(values) or any(csat):
                funnel[key] = [*values, *csat]
        reasons = {k: n for k, n in self._reasons.items() if n}
        for table, per in ((_SLOTS, 1), (_HOURS, SLOTS_PER_HOUR)):
            if funnel:
                await session.execute(text(table.upsert_counts), _summed(funnel, per, table))
            if reasons:
                await session.execute(
                    text(table.upsert_reasons), _summed_reasons(reasons, per, table)
                )
        campaigns = [
            {"campaign_id": campaign_id, "account_id": account_id, "status": status, "n": n}
            for (campaign_id, account_id, status), n in sorted(self._campaigns.items())
            if n
        ]
        if campaigns:
            await session.execute(text(_UPSERT_CAMPAIGNS), campaigns)
        self._funnel.clear()
        self._reasons.clear()
        self._csat.clear()
        self._campaigns.clear()


def _coarser(key: Key, per: int) -> Key:
    return key if per == 1 else replace(key, slot=key.slot // per)


def _summed(funnel: Mapping[Key, list[int]], per: int, table: _Table) -> list[dict[str, Any]]:
    """The funnel rows of one table (per slot, or summed per hour), in key order."""
    summed: dict[Key, list[int]] = {}
    for key, values in funnel.items():
        coarse = _coarser(key, per)
        if (row := summed.get(coarse)) is None:
            summed[coarse] = list(values)
        else:
            for i, v in enumerate(values):
                row[i] += v
    return [
        {**_key_params(key, table.time), **dict(zip(_ADDED, summed[key], strict=True))}
        for key in sorted(summed, key=_order)
    ]


def _summed_reasons(
    reasons: Mapping[tuple[Key, str], int], per: int, table: _Table
) -> list[dict[str, Any]]:
    summed: dict[tuple[Key, str], int] = defaultdict(int)
    for (key, code), n in reasons.items():
        summed[(_coarser(key, per), code)] += n
    return [
        {**_key_params(key, table.time), "error_code": code, "n": n}
        for (key, code), n in sorted(summed.items(), key=lambda kv: (_order(kv[0][0]), kv[0][1]))
    ]


def _order(key: Key) -> tuple[str, str, int, str, str]:
    return (key.account_id, key.source, key.slot, key.channel, key.skill)


def _key_params(key: Key, time: str) -> dict[str, Any]:
    return {
        "account_id": key.account_id,
        "source": key.source,
        time: key.slot,
        "channel": key.channel,
        "skill": key.skill,
    }


_ADDED = (*METRICS, "csat_sum", "csat_count")


@dataclass(frozen=True)
class _Table:
    """One granularity of the kept counts: its two tables' upserts."""

    time: str  # the key column of the period: slot or hour
    upsert_counts: str
    upsert_reasons: str

    @classmethod
    def of(cls, counts_table: str, reasons_table: str, time: str) -> _Table:
        key = ("account_id", "source", time, "channel", "skill")
        # Standard upserts, the same text on SQLite (3.24+) and PostgreSQL.
        upsert_counts = (
            f"INSERT INTO {counts_table} ({', '.join((*key, *_ADDED))}) "  # noqa: S608
            f"VALUES ({', '.join(':' + c for c in (*key, *_ADDED))}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{c} = {counts_table}.{c} + excluded.{c}" for c in _ADDED)
        )
        upsert_reasons = (
            f"INSERT INTO {reasons_table} ({', '.join(key)}, error_code, n) "  # noqa: S608
            f"VALUES ({', '.join(':' + c for c in key)}, :error_code, :n) "
            f"ON CONFLICT ({', '.join(key)}, error_code) DO UPDATE SET "
            f"n = {reasons_table}.n + excluded.n"
        )
        return cls(time, upsert_counts, upsert_reasons)


_SLOTS = _Table.of("delivery_counts", "delivery_reason_counts", "slot")
_HOURS = _Table.of("delivery_hour_counts", "delivery_hour_reason_counts", "hour")
_UPSERT_CAMPAIGNS = (
    "INSERT INTO campaign_status_counts (campaign_id, status, account_id, n) "
    "VALUES (:campaign_id, :status, :account_id, :n) "
    "ON CONFLICT (campaign_id, status) DO UPDATE SET n = campaign_status_counts.n + excluded.n"
)


def count_queued(tally: Tally, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """New QUEUED deliveries given as rows of ``columns`` (a campaign's bulk insert)."""
    at = {name: columns.index(name) for name in _KEY_SOURCES}
    per_key: dict[tuple[Any, ...], int] = defaultdict(int)
    for row in rows:
        per_key[tuple(row[i] for i in at.values())] += 1
    for values, n in per_key.items():
        fields = dict(zip(at, values, strict=True))
        tally.move(_key_from(fields), None, QUEUED, n)


_KEY_SOURCES = ("account_id", "source", "attempted_time", "channel", "skill", "campaign_id")


def _key_from(fields: Mapping[str, Any]) -> Key | None:
    return Key.of(
        fields["account_id"],
        fields["source"],
        fields["attempted_time"],
        fields["channel"],
        fields["skill"],
        fields["campaign_id"],
    )


def key_of(delivery: Any) -> Key | None:
    """The counted row of a delivery (an ORM row or anything with its attributes)."""
    return Key.of(
        delivery.account_id,
        delivery.source,
        delivery.attempted_time,
        delivery.channel,
        delivery.skill,
        delivery.campaign_id,
    )


def state_of(delivery: Any) -> State:
    return State(
        delivery.status,
        delivery.error_code,
        delivery.conversation_closed_time is not None,
        delivery.sent_time is not None,
    )
