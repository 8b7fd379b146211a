"""Every change of a delivery, in one place: this module is the only writer of a delivery's status.

Each change is guarded by the status rules (``parlay.delivery.status``): a status only moves
forward, a failure ends only what was never sent, and the dispatcher's outcomes also need the
writer to still hold the lease. In the same transaction, every change that happened appends one
row to ``delivery_events`` with the delivery's next ``sequence``, so reporting and status
webhooks read one durable, ordered stream instead of watching every writer.

The writers, by who calls them:
- campaigns and C2M: ``add_queued`` (bulk), ``add_invite``, ``requeue`` (retry-failed),
  ``cancel_campaign_deliveries`` / ``cancel_deliveries_of``;
- conversations: ``add_conversation_push`` (an agent's or bot's message to push);
- the dispatcher: ``Outcome`` batches (``prepare_outcomes`` + ``write_outcomes``) and
  ``expire_overdue``;
- the consumer's app: ``record_receipt`` (DELIVERED, READ);
- SMS and WhatsApp providers' status webhooks: ``record_provider_status``; WhatsApp's failure to
  deliver: ``add_fallback`` (the same message queued again on SMS);
- conversations: ``mark_replied``, ``mark_conversation_closed``.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.delivery import counts
from parlay.delivery.counts import SLOT_SECONDS, Tally
from parlay.delivery.models import Delivery, DeliveryEvent
from parlay.delivery.queue import Lease, is_pending
from parlay.delivery.status import (
    CONVERSATION_PRIORITY,
    PENDING,
    PENDING_SQL,
    PROVIDER_FAILED_FROM,
    STAGE_TIME,
    DeliveryStatus,
    ErrorCode,
    ErrorSource,
    Source,
    statuses_before,
)
from parlay.lib.db import sqlite_cursor
from parlay.lib.db.base import _pg_bind, _sqlite_bind, table_of
from parlay.lib.db.bulk import driver_in_transaction, insert_rows
from parlay.webhooks.outbox import enqueue_delivery_changes

DELIVERIES = table_of(Delivery)
EVENTS = table_of(DeliveryEvent)

# Event kinds beside the status reached (a status change's kind is the status itself).
CONVERSATION_CLOSED = "CONVERSATION_CLOSED"
SUPERSEDED = "SUPERSEDED"

EVENT_COLUMNS = (
    "account_id",
    "delivery_id",
    "sequence",
    "kind",
    "status",
    "error_code",
    "occurred_at",
)


class Changed(NamedTuple):
    """One change that happened (one row of ``delivery_events``)."""

    delivery_id: int
    account_id: str
    sequence: int
    kind: str
    status: str
    error_code: str | None


async def _append(session: AsyncSession, changed: Sequence[Changed], now: datetime) -> None:
    if changed:
        rows = [
            (c.account_id, c.delivery_id, c.sequence, c.kind, c.status, c.error_code, now)
            for c in changed
        ]
        await insert_rows(session, EVENTS, EVENT_COLUMNS, rows)
        await _announce(session, changed, now)


async def _announce(session: AsyncSession, changed: Sequence[Changed], now: datetime) -> None:
    """The status webhooks' events of these changes, in the same transaction (one indexed read
    when the accounts have no subscription)."""
    await enqueue_delivery_changes(session, changed, now)


_RETURNED = (
    Delivery.id,
    Delivery.account_id,
    Delivery.version,
    Delivery.status,
    Delivery.error_code,
)


_COUNTED = (
    Delivery.source,
    Delivery.attempted_time,
    Delivery.channel,
    Delivery.skill,
    Delivery.conversation_closed_time,
    Delivery.sent_time,
    Delivery.campaign_id,
)


async def _apply(
    session: AsyncSession,
    statement: Any,
    now: datetime,
    kind: str | None = None,
    before: counts.State | dict[int, counts.State] = counts.QUEUED,
) -> list[Changed]:
    """Run a guarded UPDATE of deliveries that bumps ``version`` and returns ``_RETURNED``;
    record an event for every row it changed (``kind``: the status reached, if not given) and
    move its counts from ``before`` (its state before the update; per delivery, or one for
    all) to its state after."""
    rows = (await session.execute(statement.returning(*_RETURNED, *_COUNTED))).all()
    tally = Tally()
    changed = _changed_rows(rows, kind, before, tally)
    await _append(session, changed, now)
    await tally.flush(session)
    return changed


def _changed_rows(
    rows: Sequence[Any],
    kind: str | None,
    before: counts.State | dict[int, counts.State],
    tally: Tally,
) -> list[Changed]:
    """The changes a guarded UPDATE made (its rows returned ``_RETURNED`` and ``_COUNTED``),
    their counts moved on ``tally``; with states per delivery, ``before`` is brought up to date
    for a next change of the same row."""
    changed = []
    for delivery_id, account_id, version, status, error_code, *rest in rows:
        changed.append(
            Changed(delivery_id, account_id, version, kind or status, status, error_code)
        )
        source, attempted, channel, skill, closed_time, sent_time, campaign_id = rest
        old = before if isinstance(before, counts.State) else before[delivery_id]
        new = counts.State(status, error_code, closed_time is not None, sent_time is not None)
        key = counts.Key.of(account_id, source, attempted, channel, skill, campaign_id)
        tally.move(key, old, new)
        if isinstance(before, dict):
            before[delivery_id] = new
    return changed


async def _states_for_update(session: AsyncSession, ids: Sequence[int]) -> dict[int, counts.State]:
    """The counted state of these deliveries, locked until the transaction ends (PostgreSQL;
    SQLite's write transaction holds the whole database), so that the update that follows
    moves counts from the state it really changed."""
    rows = await session.execute(
        select(Delivery.id, Delivery.status, Delivery.error_code, Delivery.conversation_closed_time)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)  # locked in id order: two such reads cannot deadlock
        .with_for_update()
    )
    return {
        delivery_id: counts.State(status, code, closed is not None)
        for delivery_id, status, code, closed in rows
    }


def _bump() -> dict[str, Any]:
    return {"version": Delivery.version + 1}


# --- creation ------------------------------------------------------------------------------

# The columns of a queued delivery, in the order ``add_queued`` takes its rows.
QUEUED_COLUMNS = (
    "account_id",
    "source",
    "campaign_id",
    "handoff_id",
    "skill",
    "priority",
    "channel",
    "consumer_id",
    "phone",
    "variables",
    "lookback_seconds",
    "expires_at",
    "status",
    "attempts",
    "next_attempt_at",
    "attempted_time",
    "header_variables",
    "sdes",
)


async def add_queued(session: AsyncSession, rows: Sequence[Sequence[Any]]) -> None:
    """Queue many deliveries at once (values in the order of ``QUEUED_COLUMNS``, status
    QUEUED). Straight to the driver: the ORM would take seconds for 100,000 rows. A delivery's
    creation is no event: its row, with ``attemptedTime``, is the record (and it is counted as
    attempted)."""
    await insert_rows(session, DELIVERIES, QUEUED_COLUMNS, rows)
    tally = Tally()
    counts.count_queued(tally, QUEUED_COLUMNS, rows)
    await tally.flush(session)


@dataclass(frozen=True)
class NotSent:
    """Why a delivery is recorded as failed at once, without being queued (an invite the
    send-time checks refuse)."""

    status: DeliveryStatus
    code: ErrorCode
    message: str


async def add_invite(
    session: AsyncSession,
    fields: dict[str, Any],
    not_sent: NotSent | None,
    now: datetime,
    lease: Lease | None = None,
) -> int:
    """Record one invite's delivery: queued in the priority lane, or final at once (its
    attempt is still recorded for reporting). ``fields`` are the delivery's columns. With a
    ``lease``, a queued invite is inserted claimed by it, as a claim would leave it."""
    row = {
        **fields,
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "attempted_time": now,
    }
    if lease is not None and not_sent is None:
        row |= {"lease_owner": lease.owner, "lease_until": lease.until, "attempts": 1}
    if not_sent is not None:
        row |= {
            "status": not_sent.status.value,
            STAGE_TIME[not_sent.status]: now,
            "error_code": not_sent.code.value,
            "error_message": not_sent.message,
            "error_source": ErrorSource.PARLAY.value,
            "version": 1,
        }
    delivery_id: int = (
        await session.execute(insert(Delivery).values(**row).returning(Delivery.id))
    ).scalar_one()
    state = counts.QUEUED
    if not_sent is not None:
        status = not_sent.status.value
        change = Changed(delivery_id, row["account_id"], 1, status, status, not_sent.code.value)
        await _append(session, [change], now)
        state = counts.State(status, not_sent.code.value)
    tally = Tally()
    key = counts.Key.of(
        row["account_id"], row["source"], now, row["channel"], row["skill"], row.get("campaign_id")
    )
    tally.move(key, None, state)
    await tally.flush(session)
    return delivery_id


@dataclass(frozen=True)
class ConversationPush:
    """An agent's or bot's message of an in-app conversation, to push to the consumer's devices
    that are not streaming (``backendService`` ``ams``)."""

    account_id: str
    consumer_id: str
    conversation_id: str
    message_id: int
    text: str
    skill: str | None  # the conversation's, for reading the queue; it routes nothing
    valid_seconds: int  # not sent within this long: EXPIRED (a late answer is stale)


async def add_conversation_push(
    session: AsyncSession, push: ConversationPush, now: datetime
) -> int:
    """Queue the push of a conversation's message in the priority lane, in the unit of work that
    adds the message: both commit, or neither. It has no campaign, call or handoff."""
    return await _add_conversation_delivery(
        session, push.account_id, "inapp", push.consumer_id, None, push, now
    )


@dataclass(frozen=True)
class ConversationText:
    """An agent's or bot's message of an SMS or WhatsApp conversation, to send to the number."""

    account_id: str
    channel: str  # sms | wa
    phone: str
    conversation_id: str
    message_id: int
    text: str
    skill: str | None
    valid_seconds: int


async def add_conversation_text(
    session: AsyncSession, message: ConversationText, now: datetime
) -> int:
    """Queue an SMS or WhatsApp conversation's message in the priority lane, in the unit of
    work that adds the message (like ``add_conversation_push``)."""
    return await _add_conversation_delivery(
        session, message.account_id, message.channel, None, message.phone, message, now
    )


async def _add_conversation_delivery(
    session: AsyncSession,
    account_id: str,
    channel: str,
    consumer_id: str | None,
    phone: str | None,
    message: ConversationPush | ConversationText,
    now: datetime,
) -> int:
    """One conversation message's delivery, queued in the priority lane to the consumer's app
    (``consumer_id``) or number (``phone``)."""
    row = {
        "account_id": account_id,
        "source": Source.CONVERSATION.value,
        "campaign_id": None,
        "call_id": None,
        "handoff_id": "",
        "skill": message.skill or "",
        "priority": CONVERSATION_PRIORITY,
        "channel": channel,
        "consumer_id": consumer_id,
        "phone": phone,
        "conversation_id": message.conversation_id,
        "message_id": message.message_id,
        "message_text": message.text,
        "lookback_seconds": message.valid_seconds,
        "expires_at": now + timedelta(seconds=message.valid_seconds),
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "attempted_time": now,
    }
    delivery_id: int = (
        await session.execute(insert(Delivery).values(**row).returning(Delivery.id))
    ).scalar_one()
    return delivery_id


_REQUEUED_COLUMNS = (
    "account_id",
    "source",
    "campaign_id",
    "call_id",
    "handoff_id",
    "skill",
    "priority",
    "channel",
    "consumer_id",
    "phone",
    "variables",
    "message_text",
    "lookback_seconds",
)


async def requeue(session: AsyncSession, failed: Sequence[Delivery], now: datetime) -> int:
    """Queue each of these failed deliveries again as a new delivery with a fresh lookback.

    The failed row keeps its history (status never moves back): it points at its new attempt
    (``supersededBy``) and records a SUPERSEDED event.
    """
    if not failed:
        return 0
    rows = [
        {
            **{column: getattr(d, column) for column in _REQUEUED_COLUMNS},
            "expires_at": now + timedelta(seconds=d.lookback_seconds),
            "status": DeliveryStatus.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": now,
            "attempted_time": now,
        }
        for d in failed
    ]
    new_ids = (
        (
            await session.execute(
                insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True), rows
            )
        )
        .scalars()
        .all()
    )
    changed = []
    tally = Tally()
    for old, new_id in zip(failed, new_ids, strict=True):
        result = await session.execute(
            update(Delivery)
            .where(Delivery.id == old.id, Delivery.superseded_by.is_(None))
            .values(superseded_by=new_id, **_bump())
            .returning(*_RETURNED)
            .execution_options(synchronize_session=False)
        )
        for delivery_id, account_id, version, status, error_code in result.all():
            changed.append(
                Changed(delivery_id, account_id, version, SUPERSEDED, status, error_code)
            )
            # Reported as its latest attempt: the old one leaves the counts.
            tally.move(counts.key_of(old), counts.state_of(old), None)
        # ... and the new one joins them.
        new_key = counts.Key.of(
            old.account_id, old.source, now, old.channel, old.skill, old.campaign_id
        )
        tally.move(new_key, None, counts.QUEUED)
    await _append(session, changed, now)
    await tally.flush(session)
    return len(failed)


# --- cancel and expiry ---------------------------------------------------------------------


def _cancel(which: Any, now: datetime) -> Any:
    return (
        update(Delivery)
        .where(
            which,
            is_pending(Delivery.status),
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .values(
            status=DeliveryStatus.CANCELLED,
            cancelled_time=now,
            error_code=ErrorCode.CANCELLED,
            error_message="the campaign was cancelled",
            error_source=ErrorSource.PARLAY,
            **_bump(),
        )
        .execution_options(synchronize_session=False)
    )


async def cancel_campaign_deliveries(
    session: AsyncSession, campaign_id: str, now: datetime
) -> list[Changed]:
    """The campaign's queued deliveries that no worker holds → CANCELLED (ones being sent right
    now finish as they will)."""
    return await _apply(session, _cancel(Delivery.campaign_id == campaign_id, now), now)


async def cancel_deliveries_of(
    session: AsyncSession, campaigns: Select[Any], now: datetime
) -> list[Changed]:
    """Like ``cancel_campaign_deliveries``, for every campaign the query selects."""
    which = Delivery.campaign_id.in_(campaigns.scalar_subquery())
    return await _apply(session, _cancel(which, now), now)


async def expire_overdue(session: AsyncSession, now: datetime, limit: int = 5000) -> int:
    """Pending deliveries past their lookback, not held by a worker → EXPIRED."""
    overdue = (
        select(Delivery.id)
        .where(
            is_pending(Delivery.status),
            Delivery.expires_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
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
            **_bump(),
        )
        .execution_options(synchronize_session=False)
    )
    return len(await _apply(session, statement, now))


# --- the consumer's app and conversations -----------------------------------------------


async def record_receipt(
    session: AsyncSession, delivery: Delivery, status: DeliveryStatus, now: datetime
) -> str:
    """The app received (DELIVERED) or opened (READ) a push; forward only, and idempotent.
    Returns the delivery's status afterwards.

    A receipt can overtake the dispatcher's own record of the send (outcomes are written in
    batches), so it also stamps ``sentTime`` when that is still empty.
    """
    values: dict[str, Any] = {"status": status.value}
    if status == DeliveryStatus.DELIVERED:
        values["delivered_time"] = now
    else:
        values["read_time"] = now
        if delivery.delivered_time is None:
            values["delivered_time"] = now
    if delivery.sent_time is None:
        # In SQL: the dispatcher may record its own sentTime between this read and the update.
        values["sent_time"] = func.coalesce(
            Delivery.sent_time, literal(now, Delivery.sent_time.type)
        )
    await _apply(
        session,
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status.in_(statuses_before(status)))
        .values(**values, **_bump())
        .execution_options(synchronize_session=False),
        now,
        before=await _states_for_update(session, [delivery.id]),
    )
    current = await session.scalar(select(Delivery.status).where(Delivery.id == delivery.id))
    return str(current)


@dataclass(frozen=True)
class ProviderStatus:
    """What a provider's status webhook says of one delivery it was sent on ``channel``."""

    account_id: str
    delivery_id: int
    channel: str
    status: DeliveryStatus  # SENT, DELIVERED, READ or FAILED
    provider_message_id: str | None = None
    error_code: ErrorCode | None = None  # FAILED: the per-delivery code
    error_message: str | None = None  # FAILED: the provider's error code, nothing else
    error_source: ErrorSource | None = None


async def record_provider_status(
    session: AsyncSession, report: ProviderStatus, now: datetime
) -> list[Changed]:
    """A provider's status callback: forward only (a late or repeated callback changes
    nothing), and FAILED also ends a SENT delivery (``PROVIDER_FAILED_FROM``).

    A callback can overtake the dispatcher's own record of the send (outcomes are written in
    batches): it then stamps ``sentTime`` and the provider's message ID itself, and clears the
    lease, so the dispatcher's late outcome (guarded by lease and status) changes nothing.
    """
    return (await record_provider_statuses(session, [report], now))[0]


async def record_provider_statuses(
    session: AsyncSession, reports: Sequence[ProviderStatus], now: datetime
) -> list[list[Changed]]:
    """Many status callbacks in one transaction, each as ``record_provider_status`` records it;
    the changes each made, in order. Their rows are locked and read in one statement, each
    report is one guarded update, and the events and counts of all of them are written once.
    Reports of the same delivery apply in the order given."""
    if not reports:
        return []
    before = await _states_for_update(session, sorted({r.delivery_id for r in reports}))
    tally = Tally()
    changes = []
    for report in reports:
        statement = _provider_update(report.status, report.provider_message_id is not None)
        rows = await session.execute(statement, _provider_params(report, now))
        changes.append(_changed_rows(rows.all(), None, before, tally))
    await _append(session, [c for changed in changes for c in changed], now)
    await tally.flush(session)
    return changes


@functools.cache
def _provider_update(status: DeliveryStatus, with_message_id: bool) -> Any:
    """The guarded UPDATE a report of ``status`` makes, built once per shape with its values as
    parameters (``_provider_params``): building it per callback was a fifth of the time a
    callback took (``bench/sms.py`` profile)."""
    values: dict[str, Any] = {"status": status.value, "lease_owner": None, "lease_until": None}
    if with_message_id:
        values["provider_message_id"] = func.coalesce(
            Delivery.provider_message_id,
            bindparam("p_message_id", type_=Delivery.provider_message_id.type),
        )
    stamped = bindparam("p_now", type_=Delivery.sent_time.type)
    if status == DeliveryStatus.FAILED:
        before = [s.value for s in PROVIDER_FAILED_FROM]
        values |= {
            "failed_time": stamped,
            "error_code": bindparam("p_error_code", type_=Delivery.error_code.type),
            "error_message": bindparam("p_error_message", type_=Delivery.error_message.type),
            "error_source": bindparam("p_error_source", type_=Delivery.error_source.type),
        }
    else:
        before = statuses_before(status)
        values["sent_time"] = func.coalesce(Delivery.sent_time, stamped)
        if status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ):
            values["delivered_time"] = func.coalesce(Delivery.delivered_time, stamped)
        if status == DeliveryStatus.READ:
            values["read_time"] = stamped
    return (
        update(Delivery)
        .where(
            Delivery.id == bindparam("p_id", type_=Delivery.id.type),
            Delivery.account_id == bindparam("p_account", type_=Delivery.account_id.type),
            Delivery.channel == bindparam("p_channel", type_=Delivery.channel.type),
            Delivery.status.in_(before),
        )
        .values(**values, **_bump())
        .returning(*_RETURNED, *_COUNTED)
        .execution_options(synchronize_session=False)
    )


def _provider_params(report: ProviderStatus, now: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {
        "p_id": report.delivery_id,
        "p_account": report.account_id,
        "p_channel": report.channel,
        "p_now": now,
    }
    if report.provider_message_id is not None:
        params["p_message_id"] = report.provider_message_id
    if report.status == DeliveryStatus.FAILED:
        params |= {
            "p_error_code": (report.error_code or ErrorCode.PROVIDER_REJECTED).value,
            "p_error_message": report.error_message,
            "p_error_source": report.error_source.value if report.error_source else None,
        }
    return params


async def add_fallback(
    session: AsyncSession, failed: Delivery, channel: str, now: datetime
) -> int | None:
    """Queue ``failed`` (a WhatsApp message WhatsApp could not deliver) again on ``channel``,
    linked to it by ``fallbackOf``, with what is left of its lookback. The failed delivery is
    superseded by it (a SUPERSEDED event), so the campaign's per-consumer views count the
    consumer once, on the fallback. Once per delivery: a repeated failure report adds nothing
    (None)."""
    if failed.superseded_by is not None or failed.expires_at <= now:
        return None
    row = {
        **{column: getattr(failed, column) for column in _REQUEUED_COLUMNS},
        "channel": channel,
        "fallback_of": failed.id,
        "expires_at": failed.expires_at,
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "attempted_time": now,
    }
    delivery_id: int = (
        await session.execute(insert(Delivery).values(**row).returning(Delivery.id))
    ).scalar_one()
    superseded = (
        await session.execute(
            update(Delivery)
            .where(Delivery.id == failed.id, Delivery.superseded_by.is_(None))
            .values(superseded_by=delivery_id, **_bump())
            .returning(*_RETURNED)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not superseded:  # pragma: no cover - a concurrent report's fallback committed first
        # Undo this one with the whole webhook: the provider retries, and finds it done.
        raise RuntimeError(f"delivery {failed.id} already fell back")
    [(_, account_id, version, status, error_code)] = superseded
    await _append(
        session, [Changed(failed.id, account_id, version, SUPERSEDED, status, error_code)], now
    )
    # Reported as its latest attempt, like a retry: the first leaves the counts, this one joins.
    tally = Tally()
    tally.move(counts.key_of(failed), counts.state_of(failed), None)
    key = counts.Key.of(
        failed.account_id, failed.source, now, channel, failed.skill, failed.campaign_id
    )
    tally.move(key, None, counts.QUEUED)
    await tally.flush(session)
    return delivery_id


async def mark_replied(
    session: AsyncSession, delivery_id: int, conversation_id: str, now: datetime
) -> None:
    """The consumer answered this delivery: a conversation opened from it (REPLIED)."""
    await _apply(
        session,
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status.in_(statuses_before(DeliveryStatus.REPLIED)),
        )
        .values(
            status=DeliveryStatus.REPLIED.value,
            conversation_id=conversation_id,
            conversation_created_time=now,
            **_bump(),
        )
        .execution_options(synchronize_session=False),
        now,
        before=await _states_for_update(session, [delivery_id]),
    )


async def mark_conversation_closed(session: AsyncSession, delivery_id: int, now: datetime) -> None:
    """The conversation this delivery started was closed (once)."""
    await _apply(
        session,
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.conversation_closed_time.is_(None))
        .values(conversation_closed_time=now, **_bump())
        .execution_options(synchronize_session=False),
        now,
        CONVERSATION_CLOSED,
        before=await _states_for_update(session, [delivery_id]),
    )


# --- the dispatcher's outcomes -----------------------------------------------------------


class Outcome(NamedTuple):
    """What became of one claimed delivery; written back in batches (``write_outcomes``)."""

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


# Outcomes are written one statement per kind of change, built here from the batch: each
# statement joins the batch (a JSON array on SQLite, arrays on PostgreSQL) to the deliveries it
# names, so the write lock is held for a few statements however large the flush (the Core path
# spent ~10 µs per row converting parameters while SQLite's write lock was held, and an IVR
# invite waited behind it). Every update is guarded: still leased by the writer, and still
# pending, so a late or duplicate writer never moves a status backwards. The deliveries that did
# change come back (RETURNING) and their events are appended in the same transaction.


@dataclass(frozen=True)
class _Shape:
    """One kind of outcome: its per-row values beyond (id, owner), how they set the row, and
    whether it is an event (a status change)."""

    values: tuple[tuple[str, str], ...]  # (name, PostgreSQL type) of each per-row value
    sets: tuple[str, ...]  # SET assignments; b.<name> is a per-row value, {now} the flush time
    event: bool


def _shape(kind: str, status: DeliveryStatus | None) -> _Shape:
    if kind == "sent":
        return _Shape(
            (("provider_id", "text"),),
            (
                "status = 'SENT'",
                "sent_time = {now}",
                "provider_message_id = b.provider_id",
                "error_code = NULL",
                "error_message = NULL",
                "error_source = NULL",
            ),
            event=True,
        )
    if kind == "final":
        assert status is not None
        return _Shape(
            (("code", "text"), ("message", "text"), ("source", "text")),
            (
                f"status = '{DeliveryStatus(status).value}'",
                f"{STAGE_TIME[status]} = {{now}}",
                "error_code = b.code",
                "error_message = b.message",
                "error_source = b.source",
            ),
            event=True,
        )
    if kind == "hold":
        return _Shape(
            (("at", "timestamptz"),),
            ("status = 'SCHEDULED'", "scheduled_time = {now}", "next_attempt_at = b.at"),
            event=True,
        )
    if kind == "retry":
        return _Shape(
            (("at", "timestamptz"), ("message", "text"), ("source", "text")),
            ("next_attempt_at = b.at", "error_message = b.message", "error_source = b.source"),
            event=False,
        )
    assert kind == "release", kind
    return _Shape((), ("attempts = attempts - 1",), event=False)


def _values(o: Outcome, stamp: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    """One outcome's per-row values, in the order of its ``_Shape.values``."""
    if o.kind == "sent":
        return (o.provider_message_id,)
    if o.kind == "final":
        return (o.error_code, o.error_message, o.error_source)
    if o.kind == "hold":
        return (stamp(o.next_attempt_at),)
    if o.kind == "retry":
        return (stamp(o.next_attempt_at), o.error_message, o.error_source)
    return ()


_CLEAR_LEASE = ("lease_owner = NULL", "lease_until = NULL")
_INSERT_EVENTS = (
    "INSERT INTO delivery_events (account_id, delivery_id, sequence, kind, status, error_code, "
    "occurred_at)"
)


def _uses_now(shape: _Shape) -> bool:
    return shape.event or any("{now}" in s for s in shape.sets)


def _pg_statement(shape: _Shape) -> str:
    """PostgreSQL: one statement per kind; the event rows are inserted by the same statement."""
    names = ["id", "owner", *(name for name, _ in shape.values)]
    types = ["bigint", "text", *(pg_type for _, pg_type in shape.values)]
    first = 2 if _uses_now(shape) else 1  # $1 is the flush time, when the statement uses it
    arrays = ", ".join(f"${i + first}::{t}[]" for i, t in enumerate(types))
    sets = [*(s.replace("{now}", "$1") for s in shape.sets), *_CLEAR_LEASE]
    if shape.event:
        sets.append("version = d.version + 1")
    update_sql = (
        f"UPDATE deliveries AS d SET {', '.join(sets)} "  # noqa: S608 - constants; values bound
        f"FROM unnest({arrays}) AS b({', '.join(names)}) "
        f"WHERE d.id = b.id AND d.lease_owner = b.owner AND d.{PENDING_SQL}"
    )
    if not shape.event:
        return update_sql
    # The changed rows come back with the key of the counts they move (its 15-minute slot
    # computed here), and their events are inserted by the same statement.
    returning = (
        "RETURNING d.id, d.account_id, d.version, d.status, d.error_code, d.source, d.channel, "
        f"d.skill, floor(extract(epoch FROM d.attempted_time) / {SLOT_SECONDS})::bigint AS slot, "
        "d.campaign_id"
    )
    return (
        f"WITH changed AS ({update_sql} {returning}), "  # noqa: S608 - constants
        f"events AS ({_INSERT_EVENTS} "
        "SELECT account_id, id, version, status, status, error_code, $1 FROM changed) "
        "SELECT id, account_id, version, status, error_code, source, channel, skill, slot, "
        "campaign_id FROM changed"
    )


def _sqlite_statement(shape: _Shape) -> str:
    """SQLite: the batch is a JSON array of rows; the changed rows come back for their events."""
    names = ["id", "owner", *(name for name, _ in shape.values)]
    columns = ", ".join(f"json_extract(value, '$[{i}]') AS {n}" for i, n in enumerate(names))
    sets = [*(s.replace("{now}", ":now") for s in shape.sets), *_CLEAR_LEASE]
    if shape.event:
        sets.append("version = version + 1")
    sql = (
        f"UPDATE deliveries SET {', '.join(sets)} "  # noqa: S608 - constants; values bound
        f"FROM (SELECT {columns} FROM json_each(:batch)) AS b "
        "WHERE deliveries.id = b.id AND deliveries.lease_owner = b.owner "
        f"AND deliveries.{PENDING_SQL}"
    )
    return sql


# SQLite, around an event write's UPDATE (``_sqlite_write_outcomes``): which deliveries it will
# change (the same rows its WHERE picks), then those rows as changed, each as one row of JSON,
# and their events inserted by one statement, all in one trip to aiosqlite's thread. The flush
# used to make four trips per kind of change (execute, fetch, close, the events' executemany),
# each waiting for the busy event loop while the transaction held the one writer.
_SQLITE_BATCH = (
    "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS owner "
    "FROM json_each(:batch))"
)
_SQLITE_WILL_CHANGE = (
    "SELECT json_group_array(deliveries.id) "  # noqa: S608 - constants; values bound
    f"FROM {_SQLITE_BATCH} AS b JOIN deliveries ON deliveries.id = b.id "
    f"WHERE deliveries.lease_owner = b.owner AND deliveries.{PENDING_SQL}"
)
_SQLITE_CHANGED_IDS = "deliveries.id IN (SELECT value FROM json_each(:ids))"
# Whole seconds of the stored text: strftime('%s') rounds a fraction up.
_SQLITE_CHANGED = (
    "SELECT json_group_array(json_array(id, account_id, version, status, error_code, source, "  # noqa: S608
    f"channel, skill, CAST(strftime('%s', substr(attempted_time, 1, 19)) AS INTEGER) / "
    f"{SLOT_SECONDS}, campaign_id)) FROM deliveries WHERE {_SQLITE_CHANGED_IDS}"
)
_SQLITE_EVENTS = (
    f"{_INSERT_EVENTS} SELECT account_id, id, version, status, status, error_code, :now "  # noqa: S608
    f"FROM deliveries WHERE {_SQLITE_CHANGED_IDS}"
)


def _sqlite_write_outcomes(
    connection: sqlite3.Connection, writes: Sequence[_Write]
) -> list[list[Any]]:
    """On aiosqlite's thread, in one trip: every write of a flush, and for an event write the
    rows it changed and their events; a few steps in all, whatever the batch's size."""
    found: list[list[Any]] = []
    for write in writes:
        if not write.event:
            connection.execute(write.sql, write.params)
            found.append([])
            continue
        (ids,) = connection.execute(_SQLITE_WILL_CHANGE, write.params).fetchone()
        connection.execute(write.sql, write.params)
        if ids == "[]":
            found.append([])
            continue
        (changed,) = connection.execute(_SQLITE_CHANGED, {"ids": ids}).fetchone()
        connection.execute(_SQLITE_EVENTS, {"ids": ids, "now": write.params["now"]})
        found.append(json.loads(changed))
    return found


@dataclass(frozen=True)
class _Write:
    sql: str
    params: Any
    event: bool


@dataclass(frozen=True)
class PreparedOutcomes:
    """The statements that record a batch of outcomes, built before the write transaction so
    that it holds the lock only to run them."""

    dialect: str
    now: datetime
    writes: tuple[_Write, ...]


def prepare_outcomes(outcomes: Sequence[Outcome], dialect: str, now: datetime) -> PreparedOutcomes:
    groups: dict[tuple[str, DeliveryStatus | None], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[(o.kind, o.status)].append(o)
    writes = []
    params: Any
    for (kind, status), items in groups.items():
        shape = _shape(kind, status)
        if dialect == "postgresql":
            columns = list(
                zip(*((o.delivery_id, o.owner, *_values(o, _pg_bind)) for o in items), strict=True)
            )
            arrays = [list(column) for column in columns]
            params = (_pg_bind(now), *arrays) if _uses_now(shape) else tuple(arrays)
            writes.append(_Write(_pg_statement(shape), params, shape.event))
        else:
            batch = json.dumps(
                [[o.delivery_id, o.owner, *_values(o, _sqlite_bind)] for o in items],
                ensure_ascii=False,
            )
            params = {"now": _sqlite_bind(now), "batch": batch}
            writes.append(_Write(_sqlite_statement(shape), params, shape.event))
    return PreparedOutcomes(dialect, now, tuple(writes))


async def write_outcomes(session: AsyncSession, prepared: PreparedOutcomes) -> list[Changed]:
    """Record the outcomes; returns the changes that happened (a stale outcome changes
    nothing and is not among them)."""
    # Straight to the driver (asyncpg, aiosqlite), inside the session's transaction: SQLAlchemy's
    # result processing cost 2-3 ms per 1,000 outcomes while SQLite's write lock was held.
    driver: Any = await driver_in_transaction(await session.connection())
    found: list[list[Any]] = []
    if prepared.dialect == "postgresql":
        for write in prepared.writes:
            if write.event:
                found.append(await driver.fetch(write.sql, *write.params))
            else:
                await driver.execute(write.sql, *write.params)
                found.append([])
    else:
        found = await sqlite_cursor.on_thread(driver, _sqlite_write_outcomes, prepared.writes)
    changed: list[Changed] = []
    keyed: list[tuple[Changed, counts.Key | None]] = []
    for rows in found:
        for delivery_id, account_id, version, status, error_code, *key in rows:
            c = Changed(delivery_id, account_id, version, status, status, error_code)
            changed.append(c)
            keyed.append((c, counts.Key.in_slot(account_id, *key)))
    await _count_outcomes(session, keyed)
    await _announce(session, changed, prepared.now)
    return changed


async def _count_outcomes(
    session: AsyncSession, keyed: Sequence[tuple[Changed, counts.Key | None]]
) -> None:
    """Move the counts of deliveries an outcome took out of the queue (all of them were pending:
    an outcome changes nothing else), summed per row and state first: a batch of 500 outcomes
    is a handful of (row, state) pairs."""
    moved: Counter[tuple[counts.Key, counts.State]] = Counter()
    for c, key in keyed:
        if key is not None and c.status not in _PENDING_VALUES:
            moved[(key, counts.State(c.status, c.error_code))] += 1
    if moved:
        tally = Tally()
        for (key, state), n in moved.items():
            tally.move(key, counts.QUEUED, state, n)
        await tally.flush(session)


_PENDING_VALUES = frozenset(s.value for s in PENDING)


async def record_outcomes(
    session: AsyncSession, outcomes: Sequence[Outcome], now: datetime
) -> list[Changed]:
    """``prepare_outcomes`` and ``write_outcomes`` in one call."""
    dialect = (await session.connection()).dialect.name
    return await write_outcomes(session, prepare_outcomes(outcomes, dialect, now))


# --- ratings ---------------------------------------------------------------------------------


async def record_rating(session: AsyncSession, delivery_id: int, score: int) -> None:
    """The consumer rated (1-5) the conversation this delivery started: counted with the
    delivery's funnel (its average is the report's ``csat``)."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is not None:
        tally = Tally()
        tally.rate(counts.key_of(delivery), score)
        await tally.flush(session)
