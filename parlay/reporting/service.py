"""The outbound reports: the funnel per day × channel × skill (analytics), a campaign's
recipients, and every delivery with each stage's time (transactions).

The analytics read the counts the lifecycle keeps with every change (``parlay.delivery.counts``):
a window's whole 15-minute slots are summed from ``delivery_counts``, and the slivers of a window
that does not start or end on a slot boundary are counted from the deliveries themselves, by the
same rule. A campaign's funnel is counted from its deliveries (one indexed read of at most the
campaign's size). Days are split in the account's time zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import Account
from parlay.c2m.models import Call
from parlay.campaigns.service import get_campaign
from parlay.conversations.models import Conversation
from parlay.delivery import counts
from parlay.delivery.counts import SLOT_SECONDS, DeliveryCount, DeliveryReasonCount
from parlay.delivery.models import Delivery
from parlay.delivery.status import DeliveryStatus, Source
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
        day = at.astimezone(self.zone).date()
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
        await _add_slots(session, rows, account_id, app, first, last, filters)
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


async def _add_slots(
    session: AsyncSession,
    rows: _Rows,
    account_id: str,
    app: App,
    first: int,
    last: int,
    filters: Filters,
) -> None:
    c = DeliveryCount
    metrics = [getattr(c, m) for m in counts.METRICS]
    query = select(c.slot, c.channel, c.skill, *metrics, c.csat_sum, c.csat_count).where(
        c.account_id == account_id, c.source == app.source, c.slot >= first, c.slot < last
    )
    for slot, channel, skill, *values in await session.execute(
        filters.apply(query, c.channel, c.skill)
    ):
        row = rows.row(counts.slot_start(slot), channel, skill)
        *funnel, csat_sum, csat_count = values
        for i, v in enumerate(funnel):
            row.funnel[i] += v
        row.csat_sum += csat_sum
        row.csat_count += csat_count
    r = DeliveryReasonCount
    query = select(r.slot, r.channel, r.skill, r.error_code, r.n).where(
        r.account_id == account_id,
        r.source == app.source,
        r.slot >= first,
        r.slot < last,
        r.n != 0,
    )
    for slot, channel, skill, code, n in await session.execute(
        filters.apply(query, r.channel, r.skill)
    ):
        row = rows.row(counts.slot_start(slot), channel, skill)
        row.reasons[code] = row.reasons.get(code, 0) + n


async def _add_deliveries(
    session: AsyncSession, rows: _Rows, where: Iterable[Any], filters: Filters
) -> None:
    """Count deliveries directly, by the rule the kept counts follow."""
    d = Delivery
    closed = d.conversation_closed_time.is_not(None)
    rated = and_(d.status == DeliveryStatus.REPLIED.value, Conversation.csat_score.is_not(None))
    query = (
        select(
            d.attempted_time,
            d.channel,
            d.skill,
            d.status,
            d.error_code,
            closed,
            func.count(),
            func.sum(Conversation.csat_score).filter(rated),
            func.count(Conversation.csat_score).filter(rated),
        )
        .outerjoin(Conversation, Conversation.id == d.conversation_id)
        .where(*where, d.superseded_by.is_(None))
        .group_by(d.attempted_time, d.channel, d.skill, d.status, d.error_code, closed)
    )
    for attempted, channel, skill, status, code, is_closed, n, csat_sum, csat_n in (
        await session.execute(filters.apply(query, d.channel, d.skill))
    ).all():
        row = rows.add_state(
            attempted, channel, skill, counts.State(status, code, bool(is_closed)), n
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


@dataclass(frozen=True)
class CampaignReport:
    page: Page
    recipients: Sequence[Delivery]


def _current(query: _Q) -> _Q:
    """A retried delivery is reported as its latest attempt."""
    return query.where(Delivery.superseded_by.is_(None))


async def campaign_report(
    session: AsyncSession, account_id: str, campaign_id: str, offset: int, limit: int
) -> CampaignReport:
    campaign = await get_campaign(session, account_id, campaign_id)
    mine = _current(select(Delivery).where(Delivery.campaign_id == campaign.id))
    total = await session.scalar(
        _current(select(func.count()).where(Delivery.campaign_id == campaign.id))
    )
    page = (
        (await session.execute(mine.order_by(Delivery.id).offset(offset).limit(limit)))
        .scalars()
        .all()
    )
    return CampaignReport(Page(int(total or 0), offset, limit), page)


async def campaign_recipients_after(
    session: AsyncSession, account_id: str, campaign_id: str, after_id: int, limit: int
) -> list[Delivery]:
    """The campaign's recipients after ``after_id``, in order: for streaming every one."""
    await get_campaign(session, account_id, campaign_id)
    query = _current(
        select(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.id > after_id)
        .order_by(Delivery.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


# --- transactions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transaction:
    delivery: Delivery
    ivr_number: str | None


def _transactions(
    account_id: str, app: App, window: Window, filters: Filters
) -> Select[Delivery, str | None]:
    d = Delivery
    query = (
        select(d, Call.ivr_number)
        .outerjoin(Call, and_(Call.delivery_id == d.id, Call.account_id == d.account_id))
        .where(
            d.account_id == account_id,
            d.source == app.source,
            d.attempted_time >= window.start,
            d.attempted_time < window.end,
        )
    )
    return _current(filters.apply(query, d.channel, d.skill))


async def transactions(
    session: AsyncSession,
    account_id: str,
    app: App,
    window: Window,
    filters: Filters,
    offset: int,
    limit: int,
) -> tuple[Page, list[Transaction]]:
    base = _transactions(account_id, app, window, filters)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.execute(
        base.order_by(Delivery.attempted_time, Delivery.id).offset(offset).limit(limit)
    )
    return Page(int(total or 0), offset, limit), [Transaction(d, ivr) for d, ivr in rows]


async def transactions_after(
    session: AsyncSession,
    account_id: str,
    app: App,
    window: Window,
    filters: Filters,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Transaction]:
    """The next ``limit`` transactions after ``after`` (attempt time, id): for streaming."""
    query = _transactions(account_id, app, window, filters)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                Delivery.attempted_time > at,
                and_(Delivery.attempted_time == at, Delivery.id > last_id),
            )
        )
    rows = await session.execute(query.order_by(Delivery.attempted_time, Delivery.id).limit(limit))
    return [Transaction(d, ivr) for d, ivr in rows]
