"""The outbox: events written in the transaction of the change that caused them, then leased,
sent and deleted by the relay (``parlay.dispatch.webhooks``).

Writing is on the hot path (every batch of delivery outcomes passes here), so an account without
a subscription costs one indexed read of ``webhook_subscriptions`` per batch and nothing more;
with subscriptions, one bulk insert of the matching rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.lib.db.base import table_of
from parlay.lib.db.bulk import insert_rows
from parlay.lib.db.direct import DirectSelect, Reader
from parlay.webhooks.events import delivery_type, matches
from parlay.webhooks.models import (
    ACTIVE,
    DISABLED,
    WebhookAttempt,
    WebhookOutboxEvent,
    WebhookSubscription,
)

OUTBOX = table_of(WebhookOutboxEvent)
ATTEMPTS = table_of(WebhookAttempt)
KEPT_ATTEMPTS = 100  # per subscription

_OUTBOX_COLUMNS = (
    "subscription_id",
    "account_id",
    "event_id",
    "event_type",
    "delivery_id",
    "sequence",
    "data",
    "created_at",
    "next_attempt_at",
    "attempts",
)


class DeliveryChange(Protocol):
    """One recorded change of a delivery (``parlay.delivery.lifecycle.Changed`` is one)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def account_id(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def kind(self) -> str: ...


def delivery_event_id(delivery_id: int, sequence: int) -> str:
    """A delivery event's ID: one per change, the same to every subscription and every retry."""
    return f"evt_d{delivery_id}_{sequence}"


async def _active(session: AsyncSession, account_ids: Sequence[str]) -> list[tuple[int, str, Any]]:
    result = await session.execute(
        select(WebhookSubscription.id, WebhookSubscription.account_id, WebhookSubscription.events)
        .where(
            WebhookSubscription.account_id.in_(account_ids),
            WebhookSubscription.state == ACTIVE,
        )
        .order_by(WebhookSubscription.id)
    )
    return [(sid, account_id, events) for sid, account_id, events in result.all()]


async def enqueue_delivery_changes(
    session: AsyncSession, changes: Sequence[DeliveryChange], now: datetime
) -> int:
    """An outbox row per change and per active subscription that asks for it; how many."""
    if not changes:
        return 0
    subscriptions = await _active(session, sorted({c.account_id for c in changes}))
    if not subscriptions:
        return 0
    rows = [
        (
            sid,
            c.account_id,
            delivery_event_id(c.delivery_id, c.sequence),
            event_type,
            c.delivery_id,
            c.sequence,
            None,
            now,
            now,
            0,
        )
        for c in changes
        if (event_type := delivery_type(c.kind))
        for sid, account_id, patterns in subscriptions
        if account_id == c.account_id and matches(patterns, event_type)
    ]
    await insert_rows(session, OUTBOX, _OUTBOX_COLUMNS, rows)
    return len(rows)


async def enqueue_event(
    session: AsyncSession,
    account_id: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    *,
    subscription_id: int | None = None,
) -> str | None:
    """An event that carries its ``data`` (a conversation's, or a ping to ``subscription_id``)
    for every active subscription of the account that asks for it; its ID, None when none does."""
    if subscription_id is not None:
        targets = [subscription_id]
    else:
        subscriptions = await _active(session, [account_id])
        targets = [sid for sid, _, patterns in subscriptions if matches(patterns, event_type)]
    if not targets:
        return None
    event_id = f"evt_{uuid.uuid4().hex}"
    rows = [
        (sid, account_id, event_id, event_type, None, None, data, now, now, 0) for sid in targets
    ]
    await insert_rows(session, OUTBOX, _OUTBOX_COLUMNS, rows)
    return event_id


# --- the relay's side ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leased:
    """One outbox row a relay holds."""

    id: int
    subscription_id: int
    account_id: str
    event_id: str
    event_type: str
    delivery_id: int | None
    sequence: int | None
    data: dict[str, Any] | None
    created_at: datetime
    attempts: int


_LEASED = (
    WebhookOutboxEvent.id,
    WebhookOutboxEvent.subscription_id,
    WebhookOutboxEvent.account_id,
    WebhookOutboxEvent.event_id,
    WebhookOutboxEvent.event_type,
    WebhookOutboxEvent.delivery_id,
    WebhookOutboxEvent.sequence,
    WebhookOutboxEvent.data,
    WebhookOutboxEvent.created_at,
    WebhookOutboxEvent.attempts,
)


def _due(now: Any) -> Select[int]:
    """The due, unleased events of active subscriptions."""
    return (
        select(WebhookOutboxEvent.id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookOutboxEvent.subscription_id)
        .where(
            WebhookOutboxEvent.next_attempt_at <= now,
            or_(WebhookOutboxEvent.lease_until.is_(None), WebhookOutboxEvent.lease_until < now),
            WebhookSubscription.state == ACTIVE,
        )
    )


_ANY_DUE = DirectSelect(
    _due(bindparam("now", type_=WebhookOutboxEvent.next_attempt_at.type)).limit(1)
)


async def any_due(reader: Reader, now: datetime) -> bool:
    """Whether ``lease`` would find anything now: a read, no write transaction (an idle relay's
    polls ask this first, as the dispatcher's lanes do)."""
    return bool(await _ANY_DUE.rows(reader, {"now": now}))


async def lease(
    session: AsyncSession, *, owner: str, now: datetime, duration: timedelta, limit: int
) -> list[Leased]:
    """Lease up to ``limit`` due events of active subscriptions, oldest due first. On PostgreSQL
    the rows are picked ``FOR UPDATE SKIP LOCKED``, so two relays never take the same one; SQLite
    has one writer."""
    due = (
        _due(now)
        .order_by(WebhookOutboxEvent.next_attempt_at, WebhookOutboxEvent.id)
        .limit(limit)
        .with_for_update(of=WebhookOutboxEvent, skip_locked=True)
    )
    result = await session.execute(
        update(WebhookOutboxEvent)
        .where(WebhookOutboxEvent.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=now + duration)
        .returning(*_LEASED)
        .execution_options(synchronize_session=False)
    )
    rows = [Leased(*row) for row in result.all()]
    rows.sort(key=lambda r: r.id)
    return rows


@dataclass(frozen=True, slots=True)
class Target:
    """Where a subscription's events go, and its sealed secret."""

    id: int
    url: str
    secret: dict[str, Any]


async def targets(session: AsyncSession, ids: Sequence[int]) -> dict[int, Target]:
    result = await session.execute(
        select(WebhookSubscription.id, WebhookSubscription.url, WebhookSubscription.secret).where(
            WebhookSubscription.id.in_(sorted(set(ids)))
        )
    )
    return {sid: Target(sid, url, secret) for sid, url, secret in result.all()}


@dataclass(frozen=True, slots=True)
class Attempt:
    """What came of one POST of a leased event."""

    event: Leased
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_at: datetime | None  # when it failed: when to try again

    @property
    def succeeded(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Disabled:
    subscription_id: int
    reason: str


async def record(
    session: AsyncSession,
    attempts: Sequence[Attempt],
    now: datetime,
    give_up_after: timedelta,
) -> list[Disabled]:
    """Delete what was delivered, reschedule what failed, keep the last attempts; a subscription
    whose events have failed for ``give_up_after`` is disabled (its undelivered events stay, and
    are sent again if it is enabled). Returns the subscriptions disabled now."""
    if not attempts:
        return []
    # Relays that write attempts of the same subscription take turns (rows locked in id order, so
    # two never wait on each other): the trim at the end then sees the other relay's attempts,
    # and the subscription keeps exactly the last ones however many relays run.
    await session.execute(
        select(WebhookSubscription.id)
        .where(WebhookSubscription.id.in_(sorted({a.event.subscription_id for a in attempts})))
        .order_by(WebhookSubscription.id)
        .with_for_update()
    )
    done = [a.event.id for a in attempts if a.succeeded]
    if done:
        await session.execute(
            delete(WebhookOutboxEvent)
            .where(WebhookOutboxEvent.id.in_(bindparam("ids", expanding=True)))
            .execution_options(synchronize_session=False),
            {"ids": done},
        )
    failed = [a for a in attempts if not a.succeeded]
    if failed:
        # Core, on the table: the ORM would take a list of parameters for a bulk update by key.
        await session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("row_id"))
            .values(
                attempts=OUTBOX.c.attempts + 1,
                next_attempt_at=bindparam("retry_at"),
                lease_owner=None,
                lease_until=None,
            ),
            [{"row_id": a.event.id, "retry_at": a.retry_at} for a in failed],
        )
    disabled: dict[int, Disabled] = {}
    for a in failed:
        if now - a.event.created_at >= give_up_after and a.event.subscription_id not in disabled:
            hours = give_up_after.total_seconds() / 3600
            disabled[a.event.subscription_id] = Disabled(
                a.event.subscription_id,
                f"events failed for {hours:g} hours (last: {a.error}); "
                "its undelivered events are kept",
            )
    for d in disabled.values():
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == d.subscription_id, WebhookSubscription.state == ACTIVE)
            .values(state=DISABLED, disabled_reason=d.reason, disabled_at=now)
            .execution_options(synchronize_session=False)
        )
    # Only what will be kept: of a batch of 500 to one subscription, 400 attempts would be
    # written only to be trimmed in the same transaction.
    kept: list[Attempt] = []
    per_subscription: dict[int, int] = {}
    for a in reversed(attempts):
        seen = per_subscription.get(a.event.subscription_id, 0)
        if seen < KEPT_ATTEMPTS:
            per_subscription[a.event.subscription_id] = seen + 1
            kept.append(a)
    kept.reverse()
    await insert_rows(
        session,
        ATTEMPTS,
        (
            "subscription_id",
            "event_id",
            "event_type",
            "attempted_at",
            "status_code",
            "latency_ms",
            "error",
            "succeeded",
        ),
        [
            (
                a.event.subscription_id,
                a.event.event_id,
                a.event.event_type,
                a.attempted_at,
                a.status_code,
                a.latency_ms,
                a.error,
                a.succeeded,
            )
            for a in kept
        ],
    )
    for sid in sorted({a.event.subscription_id for a in attempts}):
        await trim_attempts(session, sid)
    return list(disabled.values())


async def trim_attempts(session: AsyncSession, subscription_id: int) -> None:
    """Keep the last ``KEPT_ATTEMPTS`` attempts of the subscription."""
    oldest_kept = (
        select(WebhookAttempt.id)
        .where(WebhookAttempt.subscription_id == subscription_id)
        .order_by(WebhookAttempt.id.desc())
        .offset(KEPT_ATTEMPTS - 1)
        .limit(1)
        .scalar_subquery()
    )
    await session.execute(
        delete(WebhookAttempt)
        .where(WebhookAttempt.subscription_id == subscription_id, WebhookAttempt.id < oldest_kept)
        .execution_options(synchronize_session=False)
    )


async def pending_count(session: AsyncSession, subscription_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookOutboxEvent)
        .where(WebhookOutboxEvent.subscription_id == subscription_id)
    )
    return int(count or 0)


async def release(session: AsyncSession, ids: Sequence[int], owner: str) -> None:
    """Leased but not sent (the relay stops, or the lease ran short): due again at once."""
    if not ids:
        return
    await session.execute(
        update(WebhookOutboxEvent)
        .where(
            WebhookOutboxEvent.id.in_(bindparam("ids", expanding=True)),
            WebhookOutboxEvent.lease_owner == owner,
        )
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False),
        {"ids": list(ids)},
    )
