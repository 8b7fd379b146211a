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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, and_, bindparam, exists, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.consumers.models import Device
from parlay.outbound.models import Campaign, Delivery
from parlay.outbound.status import (
    PENDING,
    STAGE_TIME,
    CampaignStatus,
    DeliveryStatus,
    ErrorCode,
    ErrorSource,
)

_PENDING = [s.value for s in PENDING]
_T: Table = Delivery.__table__  # type: ignore[assignment]

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
    max_priority: int | None = None,
) -> Sequence[Row[Any]]:
    """Lease up to ``limit`` due deliveries, most urgent first (priority, due time, id)."""
    conditions = [
        Delivery.status.in_(_PENDING),
        Delivery.next_attempt_at <= now,
        or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
    ]
    if channels is not None:
        conditions.append(Delivery.channel.in_(channels))
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
        .returning(*CLAIM_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    rows = cast(list[Row[Any]], list(result.all()))
    campaign_ids = {r.campaign_id for r in rows if r.campaign_id}
    if campaign_ids:
        await session.execute(
            update(Campaign)
            .where(Campaign.id.in_(campaign_ids), Campaign.status == CampaignStatus.ACCEPTED)
            .values(status=CampaignStatus.IN_PROGRESS)
            .execution_options(synchronize_session=False)
        )
    return sorted(rows, key=lambda r: (r.priority, r.id))


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery; written back in batches by ``record``."""

    delivery_id: int
    owner: str
    kind: str  # sent | final | retry | hold
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


# executemany cannot expand an IN list of binds, so the pending statuses are written inline.
_STILL_PENDING = text("deliveries.status IN ('QUEUED', 'SCHEDULED')")


def _guard() -> Any:
    return and_(
        _T.c.id == bindparam("b_id"),
        _T.c.lease_owner == bindparam("b_owner"),
        _STILL_PENDING,
    )


_CLEAR_LEASE = {"lease_owner": None, "lease_until": None}


async def record(session: AsyncSession, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write outcomes back, one executemany per kind of change."""
    groups: dict[tuple[str, str | None], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[(o.kind, o.status.value if o.status else None)].append(o)
    for (kind, status), items in groups.items():
        params = [_params(o) for o in items]
        values: dict[str, Any] = dict(_CLEAR_LEASE)
        if kind == "sent":
            values |= {
                "status": status,
                "sent_time": now,
                "provider_message_id": bindparam("b_provider_id"),
                "error_code": None,
                "error_message": None,
                "error_source": None,
            }
        elif kind == "final":
            assert status is not None
            values |= {
                "status": status,
                STAGE_TIME[DeliveryStatus(status)]: now,
                "error_code": bindparam("b_code"),
                "error_message": bindparam("b_message"),
                "error_source": bindparam("b_source"),
            }
        elif kind == "retry":
            values |= {
                "next_attempt_at": bindparam("b_next"),
                "error_message": bindparam("b_message"),
                "error_source": bindparam("b_source"),
            }
        else:  # hold: SMS quiet hours
            values |= {
                "status": DeliveryStatus.SCHEDULED.value,
                "scheduled_time": now,
                "next_attempt_at": bindparam("b_next"),
            }
        await session.execute(update(_T).where(_guard()).values(**values), params)


def _params(o: Outcome) -> dict[str, Any]:
    return {
        "b_id": o.delivery_id,
        "b_owner": o.owner,
        "b_provider_id": o.provider_message_id,
        "b_code": o.error_code,
        "b_message": o.error_message,
        "b_source": o.error_source,
        "b_next": o.next_attempt_at,
    }


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
            Delivery.status.in_(_PENDING),
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


async def finish_campaigns(session: AsyncSession, now: datetime) -> list[str]:
    """Campaigns with nothing left to send → FINISHED. Returns their IDs."""
    pending = exists().where(Delivery.campaign_id == Campaign.id, Delivery.status.in_(_PENDING))
    ids = list(
        (
            await session.execute(
                select(Campaign.id).where(
                    Campaign.status.in_([CampaignStatus.ACCEPTED, CampaignStatus.IN_PROGRESS]),
                    ~pending,
                )
            )
        ).scalars()
    )
    if ids:
        await session.execute(
            update(Campaign)
            .where(Campaign.id.in_(ids))
            .values(status=CampaignStatus.FINISHED, finished_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids
