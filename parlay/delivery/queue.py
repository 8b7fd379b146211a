"""The delivery table as a durable work queue (research/python-stack.md §3).

A worker *claims* a batch of due deliveries by stamping them with a lease (``lease_owner``,
``lease_until``) in one UPDATE ... RETURNING; on PostgreSQL the candidate rows are picked with
``FOR UPDATE SKIP LOCKED`` so concurrent workers never take the same row, on SQLite the write
transaction (``BEGIN IMMEDIATE``) serialises claims. A lease that runs out (the worker died) makes
the row claimable again. Every outcome is written back guarded by the lease owner and by the
status (pending only), so a late or duplicate writer cannot move a status backwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    SQLColumnExpression,
    Table,
    any_,
    bindparam,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.consumers.models import Device
from parlay.db.base import _pg_bind, _sqlite_bind
from parlay.outbound.models import Campaign, Delivery
from parlay.outbound.status import (
    PENDING,
    STAGE_TIME,
    CampaignStatus,
    DeliveryStatus,
    ErrorCode,
    ErrorSource,
)

_T: Table = Delivery.__table__  # type: ignore[assignment]
# The pending statuses as the partial queue indexes state them: "status IN ('QUEUED',
# 'SCHEDULED')". SQLite uses a partial index only when the query repeats that predicate with the
# same literals, in the same order (PostgreSQL's generic plans of prepared statements likewise),
# so they are written into the SQL, not bound: with a bound IN list every claim scanned and
# sorted the whole table (45 ms per claim at 100,000 queued, against 3 ms).
_PENDING_LITERALS = ["QUEUED", "SCHEDULED"]
assert set(_PENDING_LITERALS) == {s.value for s in PENDING}


def _is_pending(column: SQLColumnExpression[str]) -> ColumnElement[bool]:
    return column.in_(bindparam(None, _PENDING_LITERALS, expanding=True, literal_execute=True))


CLAIM_COLUMNS = (
    Delivery.id,
    Delivery.account_id,
    Delivery.source,
    Delivery.campaign_id,
    Delivery.call_id,
    Delivery.handoff_id,
    Delivery.skill,
    Delivery.channel,
    Delivery.priority,
    Delivery.consumer_id,
    Delivery.phone,
    Delivery.variables,
    Delivery.message_text,
    Delivery.lookback_seconds,
    Delivery.expires_at,
    Delivery.attempts,
    Delivery.status,
    Delivery.lease_owner,
)


async def claim(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    channels: Sequence[str] | None = None,
    min_priority: int | None = None,
    max_priority: int | None = None,
) -> Sequence[Row[Any]]:
    """Lease up to ``limit`` due deliveries, most urgent first (priority, due time, id)."""
    ids = await claim_ids(
        session,
        owner=owner,
        now=now,
        lease=lease,
        limit=limit,
        channels=channels,
        min_priority=min_priority,
        max_priority=max_priority,
    )
    return await claimed_rows(session, ids)


async def claim_ids(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    channels: Sequence[str] | None = None,
    min_priority: int | None = None,
    max_priority: int | None = None,
    started: set[str] | None = None,
) -> list[int]:
    """Lease up to ``limit`` due deliveries, most urgent first; their IDs.

    Only the IDs come back, so the write transaction (on SQLite, the one writer) is over as soon
    as the leases are taken: ``claimed_rows`` reads the rest outside it. Name the ``channels``:
    the queue index leads with the channel, so without them every claim walks all pending
    deliveries (8 ms per empty priority-lane poll at 100,000 queued). Campaigns in ``started``
    are known to be IN_PROGRESS already; the ones this claim starts are added to it.
    """
    conditions = [
        _is_pending(Delivery.status),
        Delivery.next_attempt_at <= now,
        or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
    ]
    if channels is not None:
        conditions.append(Delivery.channel.in_(channels))
    if min_priority is not None:
        conditions.append(Delivery.priority >= min_priority)
    if max_priority is not None:
        conditions.append(Delivery.priority <= max_priority)
    due = (
        select(Delivery.id)
        .where(*conditions)
        .order_by(Delivery.priority, Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=now + lease, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.campaign_id)
        .execution_options(synchronize_session=False)
    )
    claimed = result.all()
    campaign_ids = {campaign_id for _, campaign_id in claimed if campaign_id}
    if started is not None:
        campaign_ids -= started
    if campaign_ids:
        await session.execute(
            update(Campaign)
            .where(Campaign.id.in_(campaign_ids), Campaign.status == CampaignStatus.ACCEPTED)
            .values(status=CampaignStatus.IN_PROGRESS)
            .execution_options(synchronize_session=False)
        )
        if started is not None:
            if len(started) > 10_000:
                started.clear()
            started |= campaign_ids
    return [delivery_id for delivery_id, _ in claimed]


async def claimed_rows(session: AsyncSession, ids: Sequence[int]) -> list[Row[Any]]:
    """What a send needs of these (claimed) deliveries, most urgent first."""
    if not ids:
        return []
    if (await session.connection()).dialect.name == "postgresql":
        # One array parameter, rather than an IN list rendered anew for every claim.
        wanted = Delivery.id == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
    else:
        wanted = Delivery.id.in_(ids)
    result = await session.execute(
        select(*CLAIM_COLUMNS).where(wanted).order_by(Delivery.priority, Delivery.id)
    )
    return cast(list[Row[Any]], list(result.all()))


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery; written back in batches by ``record``."""

    delivery_id: int
    owner: str
    kind: str  # sent | final | retry | hold | release
    status: DeliveryStatus | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_source: str | None = None
    provider_message_id: str | None = None
    next_attempt_at: datetime | None = None

    @classmethod
    def sent(cls, delivery_id: int, owner: str, provider_id: str | None) -> Outcome:
        return cls(delivery_id, owner, "sent", DeliveryStatus.SENT, provider_message_id=provider_id)

    @classmethod
    def final(
        cls,
        delivery_id: int,
        owner: str,
        status: DeliveryStatus,
        code: ErrorCode | str,
        message: str,
        source: ErrorSource | str = ErrorSource.PARLAY,
    ) -> Outcome:
        return cls(delivery_id, owner, "final", status, str(code), message, str(source))

    @classmethod
    def retry(
        cls, delivery_id: int, owner: str, at: datetime, reason: str, source: ErrorSource | str
    ) -> Outcome:
        return cls(delivery_id, owner, "retry", None, None, reason, str(source), next_attempt_at=at)

    @classmethod
    def hold(cls, delivery_id: int, owner: str, until: datetime) -> Outcome:
        return cls(delivery_id, owner, "hold", DeliveryStatus.SCHEDULED, next_attempt_at=until)

    @classmethod
    def release(cls, delivery_id: int, owner: str) -> Outcome:
        """Claimed but not sent (the worker stops, or the lease ran short): back to the queue
        at once, without counting an attempt."""
        return cls(delivery_id, owner, "release")


# Outcomes are written with the driver's own executemany, from SQL built here once per kind of
# change: the rows were claimed by id, and the Core path spent ~10 µs per row converting
# parameters while the SQLite write lock was held (a flush of 1,000 outcomes held it 20-40 ms,
# and an IVR invite waited behind it). Every update is guarded: still leased by the writer, and
# still pending, so a late or duplicate writer never moves a status backwards.
_GUARD = "id = {p} AND lease_owner = {p} AND status IN ('QUEUED', 'SCHEDULED')"
_SET_CLEAR_LEASE = "lease_owner = NULL, lease_until = NULL"


def _update_sql(assignments: Sequence[str], dialect: str) -> str:
    sets = ", ".join([*assignments, _SET_CLEAR_LEASE])
    sql = f"UPDATE deliveries SET {sets} WHERE {_GUARD}"  # noqa: S608 - constants; values are bound
    parts = sql.split("{p}")
    if dialect == "postgresql":
        marks = [f"${i}" for i in range(1, len(parts))]
    else:
        marks = ["?"] * (len(parts) - 1)
    return "".join(part + mark for part, mark in zip(parts, [*marks, ""], strict=True))


def _change(kind: str, status: DeliveryStatus | None) -> list[str]:
    """The SET assignments of one kind of outcome; ``{p}`` marks a parameter."""
    if kind == "sent":
        return [
            "status = 'SENT'",
            "sent_time = {p}",
            "provider_message_id = {p}",
            "error_code = NULL",
            "error_message = NULL",
            "error_source = NULL",
        ]
    if kind == "final":
        assert status is not None
        return [
            f"status = '{DeliveryStatus(status).value}'",
            f"{STAGE_TIME[status]} = {{p}}",
            "error_code = {p}",
            "error_message = {p}",
            "error_source = {p}",
        ]
    if kind == "retry":
        return ["next_attempt_at = {p}", "error_message = {p}", "error_source = {p}"]
    if kind == "hold":
        return ["status = 'SCHEDULED'", "scheduled_time = {p}", "next_attempt_at = {p}"]
    assert kind == "release", kind
    return ["attempts = attempts - 1"]


def _row(o: Outcome, now: Any, stamp: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    """The parameters of one outcome, in the order of its ``_change`` and the guard."""
    if o.kind == "sent":
        values: tuple[Any, ...] = (now, o.provider_message_id)
    elif o.kind == "final":
        values = (now, o.error_code, o.error_message, o.error_source)
    elif o.kind == "retry":
        values = (stamp(o.next_attempt_at), o.error_message, o.error_source)
    elif o.kind == "hold":
        values = (now, stamp(o.next_attempt_at))
    else:
        values = ()
    return (*values, o.delivery_id, o.owner)


OutcomeWrites = list[tuple[str, list[tuple[Any, ...]]]]


def outcome_writes(outcomes: Sequence[Outcome], dialect: str, now: datetime) -> OutcomeWrites:
    """The statements and parameter rows that record ``outcomes``: one executemany per kind of
    change. Built before the write transaction begins, so that it holds the lock only to run
    them."""
    groups: dict[tuple[str, DeliveryStatus | None], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[(o.kind, o.status)].append(o)
    stamp: Callable[[datetime | None], Any] = _sqlite_bind if dialect == "sqlite" else _pg_bind
    now_param = stamp(now)
    return [
        (_update_sql(_change(kind, status), dialect), [_row(o, now_param, stamp) for o in items])
        for (kind, status), items in groups.items()
    ]


async def write_outcomes(session: AsyncSession, writes: OutcomeWrites) -> None:
    connection = await session.connection()
    for sql, rows in writes:
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.executemany(sql, rows)
        else:
            await connection.exec_driver_sql(sql, rows)


async def record(session: AsyncSession, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write outcomes back, one executemany per kind of change."""
    dialect = (await session.connection()).dialect.name
    await write_outcomes(session, outcome_writes(outcomes, dialect, now))


async def disable_tokens(
    session: AsyncSession, account_id: str, tokens: Sequence[str], now: datetime
) -> None:
    """A provider said these push tokens are dead: never push to them again."""
    if tokens:
        await session.execute(
            update(Device)
            .where(Device.account_id == account_id, Device.push_token.in_(list(tokens)))
            .values(token_disabled_at=now)
            .execution_options(synchronize_session=False)
        )


async def expire_overdue(session: AsyncSession, now: datetime, limit: int = 5000) -> int:
    """Pending deliveries past their lookback, not held by a worker → EXPIRED."""
    overdue = (
        select(Delivery.id)
        .where(
            _is_pending(Delivery.status),
            Delivery.expires_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(overdue.scalar_subquery()))
        .values(
            status=DeliveryStatus.EXPIRED,
            expired_time=now,
            error_code=ErrorCode.EXPIRED,
            error_message="not sent within the lookback period",
            error_source=ErrorSource.PARLAY,
            lease_owner=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def cancelled_campaigns(session: AsyncSession, campaign_ids: Iterable[str]) -> list[str]:
    """Those of these campaigns that were cancelled."""
    rows = await session.execute(
        select(Campaign.id).where(
            Campaign.id.in_(list(campaign_ids)), Campaign.status == CampaignStatus.CANCELLED
        )
    )
    return list(rows.scalars())


async def finish_campaigns(session: AsyncSession, now: datetime) -> list[str]:
    """Campaigns with nothing left to send → FINISHED. Returns their IDs.

    The candidates are locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a campaign that an
    append or retry-failed holds right now is left for the next tick) and "nothing pending" is
    checked again by the update, which sees everything committed before it: otherwise an append
    committing between the two statements would leave a FINISHED campaign with queued
    deliveries. (SQLite's one writer makes the two statements atomic anyway.)
    """
    pending = exists().where(Delivery.campaign_id == Campaign.id, _is_pending(Delivery.status))
    active = Campaign.status.in_([CampaignStatus.ACCEPTED, CampaignStatus.IN_PROGRESS])
    candidates = list(
        (
            await session.execute(
                select(Campaign.id).where(active, ~pending).with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not candidates:
        return []
    finished = await session.execute(
        update(Campaign)
        .where(Campaign.id.in_(candidates), active, ~pending)
        .values(status=CampaignStatus.FINISHED, finished_at=now)
        .returning(Campaign.id)
        .execution_options(synchronize_session=False)
    )
    return list(finished.scalars())
