"""The outbound reports: the funnel per day × channel × skill (analytics), a campaign's
recipients, and every delivery with each stage's time (transactions).

The analytics read the counts the lifecycle keeps with every change (``parlay.delivery.counts``):
a window's whole 15-minute slots are summed from ``delivery_counts``, and the slivers of a window
that does not start or end on a slot boundary are counted from the deliveries themselves, by the
same rule. A campaign's funnel is counted from its deliveries (one indexed read of at most the
campaign's size). Days are split in the account's time zone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import Account
from parlay.c2m.models import Call
from parlay.campaigns.service import get_campaign
from parlay.conversations.models import Conversation
from parlay.delivery import counts
from parlay.delivery.counts import (
    SLOT_SECONDS,
    SLOTS_PER_HOUR,
    DeliveryCount,
    DeliveryHourCount,
    DeliveryHourReasonCount,
    DeliveryReasonCount,
)
from parlay.delivery.models import Delivery
from parlay.delivery.status import DeliveryStatus, Source
from parlay.lib.db.base import UTCDateTime
from parlay.lib.db.direct import DirectSelect
from parlay.lib.db.lists import among
from parlay.lib.db.planner import prefer_indexes
from parlay.lib.errors import invalid_field

MAX_WINDOW = timedelta(days=60)
_Q = TypeVar("_Q", bound="Select[*tuple[Any, ...]]")


class App(StrEnum):
    """The reporting apps: campaigns (``prmsg``) and IVR deflection (``c2m``)."""

    PRMSG = "prmsg"
    C2M = "c2m"

    @property
    def source(self) -> str:
        return Source.PROACTIVE.value if self is App.PRMSG else Source.IVR_DEFLECTION.value


@dataclass(frozen=True)
class Window:
    """``[start, end)`` of attempt times, at most 60 days."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start_ms: int | None, end_ms: int | None) -> Window:
        if start_ms is None:
            raise invalid_field("attemptedStartTime", "required (epoch milliseconds)")
        if end_ms is None:
            raise invalid_field("attemptedEndTime", "required (epoch milliseconds)")
        start, end = _from_ms(start_ms, "attemptedStartTime"), _from_ms(end_ms, "attemptedEndTime")
        if end <= start:
            raise invalid_field("attemptedEndTime", "must be after attemptedStartTime")
        if end - start > MAX_WINDOW:
            raise invalid_field(
                "attemptedEndTime",
                f"the window is {(end - start) / timedelta(days=1):.1f} days; at most 60 days "
                "may be asked at once",
            )
        return cls(start, end)


def _from_ms(value: int, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(value / 1000, ZoneInfo("UTC"))
    except (OverflowError, OSError, ValueError) as exc:
        raise invalid_field(name, "epoch milliseconds within years 1970-9999") from exc


@dataclass(frozen=True)
class Filters:
    """Only these channels / skills (None: all)."""

    channels: frozenset[str] | None = None
    skills: frozenset[str] | None = None

    def apply(self, query: _Q, channel: Any, skill: Any) -> _Q:
        if self.channels is not None:
            query = query.where(channel.in_(sorted(self.channels)))
        if self.skills is not None:
            query = query.where(skill.in_(sorted(self.skills)))
        return query


# --- analytics ----------------------------------------------------------------------------------


@dataclass
class AnalyticsRow:
    """One day × channel × skill of the funnel."""

    day: date
    channel: str
    skill: str
    funnel: list[int] = field(default_factory=lambda: [0] * len(counts.METRICS))
    csat_sum: int = 0
    csat_count: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def csat(self) -> float | None:
        return round(self.csat_sum / self.csat_count, 2) if self.csat_count else None

    def count(self, metric: str) -> int:
        return self.funnel[counts.METRICS.index(metric)]


class _Rows:
    """Analytics rows being summed, keyed by local day × channel × skill."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.rows: dict[tuple[date, str, str], AnalyticsRow] = {}

    def row(self, at: datetime, channel: str, skill: str) -> AnalyticsRow:
        return self.day_row(at.astimezone(self.zone).date(), channel, skill)

    def day_row(self, day: date, channel: str, skill: str) -> AnalyticsRow:
        key = (day, channel, skill)
        if (row := self.rows.get(key)) is None:
            row = self.rows[key] = AnalyticsRow(day, channel, skill)
        return row

    def add_state(
        self, at: datetime, channel: str, skill: str, state: counts.State, n: int
    ) -> AnalyticsRow:
        row = self.row(at, channel, skill)
        for i, v in enumerate(counts.funnel(state)):
            row.funnel[i] += v * n
        if (code := counts.reason(state)) is not None:
            row.reasons[code] = row.reasons.get(code, 0) + n
        return row

    def sorted(self) -> list[AnalyticsRow]:
        return [self.rows[k] for k in sorted(self.rows)]


async def time_zone(session: AsyncSession, account_id: str) -> ZoneInfo:
    name = await session.scalar(select(Account.time_zone).where(Account.id == account_id))
    return ZoneInfo(name or "UTC")


async def analytics(
    session: AsyncSession, account_id: str, app: App, window: Window, filters: Filters
) -> list[AnalyticsRow]:
    """The funnel of the account's deliveries of ``app`` attempted within ``window``."""
    rows = _Rows(await time_zone(session, account_id))
    first = -(-int(window.start.timestamp()) // SLOT_SECONDS)  # the first whole slot
    last = int(window.end.timestamp()) // SLOT_SECONDS  # the slot after the last whole one
    if first < last:
        segments = _offset_segments(window, rows.zone)
        for kept, lo, hi in _kept_pieces(first, last, segments):
            await _add_kept(session, rows, account_id, app, kept, lo, hi, segments, filters)
        edges = [
            (window.start, counts.slot_start(first)),
            (counts.slot_start(last), window.end),
        ]
    else:
        edges = [(window.start, window.end)]
    for start, end in edges:
        if start < end:
            where = (
                Delivery.account_id == account_id,
                Delivery.source == app.source,
                Delivery.attempted_time >= start,
                Delivery.attempted_time < end,
            )
            await _add_deliveries(session, rows, where, filters)
    return rows.sorted()


async def analytics_from_deliveries(
    session: AsyncSession, account_id: str, app: App, window: Window, filters: Filters
) -> list[AnalyticsRow]:
    """The same funnel counted from the deliveries themselves, without the kept counts: the
    baseline of the benchmark, and the proof in tests that the kept counts never drift."""
    rows = _Rows(await time_zone(session, account_id))
    where = (
        Delivery.account_id == account_id,
        Delivery.source == app.source,
        Delivery.attempted_time >= window.start,
        Delivery.attempted_time < window.end,
    )
    await _add_deliveries(session, rows, where, filters)
    return rows.sorted()


_SLOTS_PER_DAY = 86400 // SLOT_SECONDS


def _offset_segments(window: Window, zone: ZoneInfo) -> list[tuple[int, int]]:
    """The zone's UTC offset (in slots) over the window, as ``(first slot, offset)`` pieces: one,
    or one more per daylight-saving change inside it. Sampled a day apart, and slot by slot
    only in a day whose offset changed (a month is ~30 samples, not 2,880)."""
    first = counts.slot_of(window.start)
    last = -(-int(window.end.timestamp()) // SLOT_SECONDS)

    def offset(slot: int) -> int:
        value = counts.slot_start(slot).astimezone(zone).utcoffset()
        return int(value.total_seconds()) // SLOT_SECONDS if value is not None else 0

    segments: list[tuple[int, int]] = [(first, offset(first))]
    day_start = first
    while day_start < last:
        day_end = min(day_start + _SLOTS_PER_DAY, last)
        if offset(day_end) != segments[-1][1]:
            for slot in range(day_start + 1, day_end + 1):
                if (slots := offset(slot)) != segments[-1][1]:
                    segments.append((slot, slots))
        day_start = day_end
    return segments


def _kept_pieces(
    first: int, last: int, segments: Sequence[tuple[int, int]]
) -> list[tuple[_Kept, int, int]]:
    """Which kept counts answer the whole slots ``[first, last)``: the whole hours from the
    hourly tables, the slots around them from the slot tables. Only when every offset of the
    zone in the window, and every change between them, falls on a whole hour (an hour then
    never straddles a local midnight); otherwise every slot is read."""
    whole_hours = all(
        offset % SLOTS_PER_HOUR == 0 and (i == 0 or start % SLOTS_PER_HOUR == 0)
        for i, (start, offset) in enumerate(segments)
    )
    hour_first = -(-first // SLOTS_PER_HOUR)
    hour_last = last // SLOTS_PER_HOUR
    if not whole_hours or hour_first >= hour_last:
        return [(_SLOTS, first, last)]
    pieces = [
        (_SLOTS, first, hour_first * SLOTS_PER_HOUR),
        (_HOURS, hour_first, hour_last),
        (_SLOTS, hour_last * SLOTS_PER_HOUR, last),
    ]
    return [piece for piece in pieces if piece[1] < piece[2]]


def _local_day(slot: Any, segments: Sequence[tuple[int, int]]) -> Any:
    """SQL: the local day of a slot, as days since 1970-01-01: (slot + offset) // slots per day,
    every offset being a whole number of slots (so every local midnight is a slot boundary)."""
    day = (slot + segments[-1][1]) // _SLOTS_PER_DAY
    if len(segments) == 1:
        return day
    return case(
        *(
            (slot < segments[i + 1][0], (slot + offset) // _SLOTS_PER_DAY)
            for i, (_, offset) in enumerate(segments[:-1])
        ),
        else_=day,
    )


_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True)
class _Kept:
    """One granularity of the kept counts: its two tables, its time column, slots per unit."""

    funnel: Any
    reasons: Any
    time: str
    slots: int


_SLOTS = _Kept(DeliveryCount, DeliveryReasonCount, "slot", 1)
_HOURS = _Kept(DeliveryHourCount, DeliveryHourReasonCount, "hour", SLOTS_PER_HOUR)


async def _add_kept(
    session: AsyncSession,
    rows: _Rows,
    account_id: str,
    app: App,
    kept: _Kept,
    first: int,
    last: int,
    segments: Sequence[tuple[int, int]],
    filters: Filters,
) -> None:
    """Sum the kept counts of the periods ``[first, last)`` (slots or hours) per local day, in
    SQL: only the day sums come back."""
    c = kept.funnel
    time = getattr(c, kept.time)
    day = _local_day(time * kept.slots if kept.slots > 1 else time, segments)
    sums = [func.sum(getattr(c, m)) for m in (*counts.METRICS, "csat_sum", "csat_count")]
    query = (
        select(day, c.channel, c.skill, *sums)
        .where(c.account_id == account_id, c.source == app.source, time >= first, time < last)
        .group_by(day, c.channel, c.skill)
    )
    for index, channel, skill, *values in await session.execute(
        filters.apply(query, c.channel, c.skill)
    ):
        row = rows.day_row(_EPOCH_DAY + timedelta(days=int(index)), channel, skill)
        *funnel, csat_sum, csat_count = (int(v or 0) for v in values)
        for i, v in enumerate(funnel):
            row.funnel[i] += v
        row.csat_sum += csat_sum
        row.csat_count += csat_count
    r = kept.reasons
    time = getattr(r, kept.time)
    day = _local_day(time * kept.slots if kept.slots > 1 else time, segments)
    query = (
        select(day, r.channel, r.skill, r.error_code, func.sum(r.n))
        .where(r.account_id == account_id, r.source == app.source, time >= first, time < last)
        .group_by(day, r.channel, r.skill, r.error_code)
    )
    for index, channel, skill, code, n in await session.execute(
        filters.apply(query, r.channel, r.skill)
    ):
        if n:
            row = rows.day_row(_EPOCH_DAY + timedelta(days=int(index)), channel, skill)
            row.reasons[code] = row.reasons.get(code, 0) + int(n)


async def _add_deliveries(
    session: AsyncSession, rows: _Rows, where: Iterable[Any], filters: Filters
) -> None:
    """Count deliveries directly, by the rule the kept counts follow."""
    d = Delivery
    closed = d.conversation_closed_time.is_not(None)
    was_sent = d.sent_time.is_not(None)
    rated = and_(d.status == DeliveryStatus.REPLIED.value, Conversation.csat_score.is_not(None))
    query = (
        select(
            d.attempted_time,
            d.channel,
            d.skill,
            d.status,
            d.error_code,
            closed,
            was_sent,
            func.count(),
            func.sum(Conversation.csat_score).filter(rated),
            func.count(Conversation.csat_score).filter(rated),
        )
        .outerjoin(Conversation, Conversation.id == d.conversation_id)
        .where(*where, d.superseded_by.is_(None))
        .group_by(d.attempted_time, d.channel, d.skill, d.status, d.error_code, closed, was_sent)
    )
    for attempted, channel, skill, status, code, is_closed, sent, n, csat_sum, csat_n in (
        await session.execute(filters.apply(query, d.channel, d.skill))
    ).all():
        row = rows.add_state(
            attempted, channel, skill, counts.State(status, code, bool(is_closed), bool(sent)), n
        )
        row.csat_sum += int(csat_sum or 0)
        row.csat_count += int(csat_n or 0)


async def campaign_analytics(
    session: AsyncSession, account_id: str, campaign_id: str
) -> list[AnalyticsRow]:
    """One campaign's funnel per day × channel × skill."""
    campaign = await get_campaign(session, account_id, campaign_id)
    rows = _Rows(await time_zone(session, account_id))
    await _add_deliveries(session, rows, (Delivery.campaign_id == campaign.id,), Filters())
    return rows.sorted()


# --- a campaign's recipients -----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """LivePerson's offset paging: ``-1`` where there is no previous or next page."""

    count: int
    offset: int
    limit: int

    @property
    def previous_offset(self) -> int:
        return max(self.offset - self.limit, 0) if self.offset > 0 else -1

    @property
    def next_offset(self) -> int:
        return self.offset + self.limit if self.offset + self.limit < self.count else -1


# Core columns, not ORM attributes: a streamed report skips the ORM's row loading (a third of
# the CSV export's time).
_D = Delivery.__table__.c
_CALLS = Call.__table__.c

# A report row: a result row with the named columns of ``deliveries`` (read without the ORM:
# 2-3x faster to stream, and a report never changes what it reads).
ReportRow = Any

# The columns of a recipient row, in the order ``views.consumer_values`` unpacks them.
RECIPIENT_COLUMNS = (
    _D.id,
    _D.consumer_id,
    _D.phone,
    _D.status,
    _D.error_source,
    _D.error_code,
    _D.error_message,
    _D.conversation_id,
)


@dataclass(frozen=True)
class CampaignReport:
    page: Page
    recipients: Sequence[ReportRow]


def _current(query: _Q) -> _Q:
    """A retried delivery is reported as its latest attempt."""
    return query.where(Delivery.superseded_by.is_(None))


async def campaign_report(
    session: AsyncSession, account_id: str, campaign_id: str, offset: int, limit: int
) -> CampaignReport:
    campaign = await get_campaign(session, account_id, campaign_id)
    await prefer_indexes(session)
    query = _current(
        select(*RECIPIENT_COLUMNS)
        .where(Delivery.campaign_id == campaign.id)
        .order_by(Delivery.id)
        .offset(offset)
        .limit(limit)
    )
    page = (await session.execute(query)).all()
    # Each accepted consumer has exactly one current delivery (a retry or a fallback supersedes
    # the one before), so the campaign's count is the report's, without counting 100,000 rows.
    return CampaignReport(Page(campaign.accepted_consumers, offset, limit), page)


async def campaign_recipients_after(
    session: AsyncSession, account_id: str, campaign_id: str, after_id: int, limit: int
) -> list[ReportRow]:
    """The campaign's recipients after ``after_id``, in order: for streaming every one."""
    await get_campaign(session, account_id, campaign_id)
    query = _current(
        select(*RECIPIENT_COLUMNS)
        .where(Delivery.campaign_id == campaign_id, Delivery.id > after_id)
        .order_by(Delivery.id)
        .limit(limit)
    )
    return list((await (await session.connection()).execute(query)).all())


# --- transactions -------------------------------------------------------------------------------

# The columns of a transaction row, in the order ``views.transaction_values`` unpacks them.
TRANSACTION_COLUMNS = (
    _D.id,
    _D.channel,
    _D.skill,
    _D.campaign_id,
    _D.handoff_id,
    _D.consumer_id,
    _D.phone,
    _D.conversation_id,
    _D.status,
    _D.attempted_time,
    _D.sent_time,
    _D.delivered_time,
    _D.read_time,
    _D.failed_time,
    _D.expired_time,
    _D.skipped_time,
    _D.cancelled_time,
    _D.conversation_created_time,
    _D.conversation_closed_time,
    _D.error_code,
    _D.error_message,
    _D.error_source,
    _CALLS.ivr_number,
)


def _as_stored(column: Any, postgres: bool) -> Any:
    """A time column as text in UTC, "YYYY-MM-DD HH:MM:SS.ffffff" (SQLite's stored text; on
    PostgreSQL ``to_char``), which the report rewrites as ISO 8601 by slicing: parsing it into a
    datetime only to print it again was half of the CSV export's time on SQLite, and a third on
    PostgreSQL (with SQLAlchemy's rows around it)."""
    if not isinstance(column.type, UTCDateTime):
        return column
    if not postgres:
        return type_coerce(column, String).label(column.name)
    utc = func.timezone("UTC", column)
    return func.to_char(utc, "YYYY-MM-DD HH24:MI:SS.US").label(column.name)


def _transactions(
    columns: Iterable[Any], postgres: bool, channels: bool, skills: bool
) -> Select[*tuple[Any, ...]]:
    """The window's current transactions, only the filters' channels and skills where they name
    some; its values bound at execution (``_transaction_params``)."""
    d = Delivery
    at = d.attempted_time
    query: Select[*tuple[Any, ...]] = (
        select(*columns)
        .outerjoin(Call, and_(Call.id == d.call_id, Call.account_id == d.account_id))
        .where(
            d.account_id == bindparam("account"),
            d.source == bindparam("source"),
            at >= bindparam("start", type_=at.type),
            at < bindparam("end", type_=at.type),
        )
    )
    if channels:
        query = query.where(among(d.channel, "channels", postgres))
    if skills:
        query = query.where(among(d.skill, "skills", postgres))
    return _current(query)


def _transaction_params(
    account_id: str, app: App, window: Window, filters: Filters
) -> dict[str, Any]:
    return {
        "account": account_id,
        "source": app.source,
        "start": window.start,
        "end": window.end,
        "channels": sorted(filters.channels or ()),
        "skills": sorted(filters.skills or ()),
    }


async def transactions(
    session: AsyncSession,
    account_id: str,
    app: App,
    window: Window,
    filters: Filters,
    offset: int,
    limit: int,
) -> tuple[Page, list[ReportRow]]:
    postgres = (await session.connection()).dialect.name == "postgresql"
    base = _transactions(
        TRANSACTION_COLUMNS, postgres, filters.channels is not None, filters.skills is not None
    )
    params = _transaction_params(account_id, app, window, filters)
    total = await session.scalar(select(func.count()).select_from(base.subquery()), params)
    rows = await session.execute(
        base.order_by(Delivery.attempted_time, Delivery.id).offset(offset).limit(limit), params
    )
    return Page(int(total or 0), offset, limit), list(rows.all())


async def transactions_after(
    session: AsyncSession,
    account_id: str,
    app: App,
    window: Window,
    filters: Filters,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[ReportRow]:
    """The next ``limit`` transactions after ``after`` (attempt time, id): for streaming. Read
    straight to the driver (``DirectSelect``): building SQLAlchemy's rows was a fifth of the
    CSV export's time on PostgreSQL."""
    postgres = (await session.connection()).dialect.name == "postgresql"
    statement = _transactions_after(
        postgres, after is not None, filters.channels is not None, filters.skills is not None, limit
    )
    params = _transaction_params(account_id, app, window, filters)
    if after is not None:
        params["after_at"], params["after_id"] = after
    return await statement.rows(session, params)


_ID, _ATTEMPTED = TRANSACTION_COLUMNS.index(_D.id), TRANSACTION_COLUMNS.index(_D.attempted_time)


def resume_after(row: ReportRow) -> tuple[datetime, int]:
    """Where the stream goes on after ``row`` (``transactions_after``'s ``after``): its attempt
    time (read as UTC text) and ID."""
    return datetime.fromisoformat(row[_ATTEMPTED]).replace(tzinfo=UTC), row[_ID]


@functools.cache
def _transactions_after(
    postgres: bool, after: bool, channels: bool, skills: bool, limit: int
) -> DirectSelect:
    """``transactions_after``'s statement, one per shape, its values bound at execution."""
    d = Delivery
    columns = (_as_stored(c, postgres) for c in TRANSACTION_COLUMNS)
    query = _transactions(columns, postgres, channels, skills)
    if after:
        # A row-value comparison: both databases walk the index from there (an OR of the two
        # conditions made SQLite scan from the window's start on every chunk).
        at = d.attempted_time
        since = tuple_(bindparam("after_at", type_=at.type), bindparam("after_id", type_=d.id.type))
        query = query.where(tuple_(at, d.id) > since)
    return DirectSelect(query.order_by(d.attempted_time, d.id).limit(limit))
