"""Proactive campaigns: accept 1-100,000 consumers and queue one delivery each; append, cancel,
retry the failed; the campaign's own status (ACCEPTED → IN_PROGRESS → FINISHED, or CANCELLED).

The campaign row and every delivery row are written in one transaction with bulk inserts, so a
campaign is either wholly queued or not at all. These functions work inside the caller's unit of
work (``parlay.campaigns.usecases`` opens it).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.service import find_skill, require_skill
from parlay.campaigns.intake import (
    AcceptedConsumer,
    ConsumerEntry,
    ConsumerIntake,
    FailedConsumer,
    Intake,
)
from parlay.campaigns.models import ACTIVE, Campaign, CampaignStatus
from parlay.delivery import lifecycle
from parlay.delivery.counts import CampaignStatusCount
from parlay.delivery.models import Delivery
from parlay.delivery.queue import is_pending
from parlay.delivery.status import RETRYABLE, DeliveryStatus
from parlay.delivery.windows import WindowProblem, parse_windows
from parlay.handoffs.models import Handoff
from parlay.handoffs.service import require_handoff
from parlay.handoffs.snapshot import HandoffSnapshot
from parlay.lib.db.planner import prefer_indexes
from parlay.lib.errors import Conflict, NotFound, invalid_field
from parlay.lib.errors import ErrorCode as ApiErrorCode
from parlay.lib.phone import normalize_e164
from parlay.lib.text import message_text_problem

MAX_DELIVERY_ID = 2**63 - 1


@dataclass(frozen=True)
class CampaignRequest:
    name: str
    skill: str
    handoff_id: str
    outbound_number: str | None
    consent: bool
    message_text: str | None
    consumers: Sequence[ConsumerEntry]
    # schedulingMetrics.windows: (day, startHour, startMinute, endHour, endMinute) each.
    send_windows: Sequence[tuple[str, int, int, int, int]] = ()
    # Whether the answer lists the accepted consumers (``Prefer: return=minimal`` says not).
    list_accepted: bool = True


@dataclass(frozen=True)
class Accepted:
    """What a create or append took in: the campaign, how many were queued (and who, in order,
    unless the caller asked for the count only), who was refused, and the skill's ID (the
    engagement LivePerson's clients read back)."""

    campaign: Campaign
    accepted: int
    failed: list[FailedConsumer]
    accepted_consumers: list[AcceptedConsumer] | None = None
    delivery_ids: list[int] | None = None  # of ``accepted_consumers``, in the same order
    skill_id: int | None = None


def _check_texts(handoff: Handoff, message_text: str | None) -> None:
    if message_text is not None and (problem := message_text_problem(message_text)):
        raise invalid_field("message.text", problem)
    for i, channel in enumerate(HandoffSnapshot.of(handoff).channels):
        if not (message_text or channel.message_text or channel.uses_template):
            raise invalid_field(
                "message.text",
                f"required: the handoff's {channel.type} channel (channels[{i}]) has no "
                "messageText",
            )


async def create_campaign(
    session: AsyncSession, account_id: str, request: CampaignRequest, now: datetime
) -> Accepted:
    if request.consent is not True:
        raise invalid_field("consent", "must be true: the brand confirms it holds opt-in consent")
    handoff = await require_handoff(session, account_id, request.handoff_id, "templateId")
    skill = await require_skill(session, account_id, request.skill)
    _check_texts(handoff, request.message_text)
    try:
        windows = parse_windows(request.send_windows)
    except WindowProblem as problem:
        where = f"schedulingMetrics.windows.{problem.index}.{problem.field}"
        raise invalid_field(where, str(problem)) from problem
    outbound_number = None
    if request.outbound_number is not None:
        outbound_number = normalize_e164(request.outbound_number)
        if outbound_number is None:
            raise invalid_field(
                "outboundNumber", "not a valid E.164 number", ApiErrorCode.INVALID_PHONE_NUMBER
            )
    campaign_id = str(uuid.uuid4())
    frozen = HandoffSnapshot.of(handoff)
    intake = ConsumerIntake(
        account_id=account_id,
        campaign_id=campaign_id,
        handoff=frozen,
        skill=request.skill,
        message_text=request.message_text,
        now=now,
        list_accepted=request.list_accepted,
    ).take(request.consumers)
    campaign = Campaign(
        id=campaign_id,
        account_id=account_id,
        name=request.name,
        skill=request.skill,
        handoff_id=handoff.id,
        handoff_snapshot=frozen.to_json(),
        outbound_number=outbound_number,
        message_text=request.message_text,
        status=(CampaignStatus.ACCEPTED if intake.rows else CampaignStatus.FAILED).value,
        request_trace_id=uuid.uuid4().hex,
        accepted_consumers=len(intake.rows),
        failed_consumers=len(intake.failed),
        created_at=now,
        finished_at=None if intake.rows else now,
        send_windows=[w.to_json() for w in windows] or None,
    )
    session.add(campaign)
    await session.flush()
    await lifecycle.add_queued(session, intake.rows)
    return await _accepted(session, campaign, intake, request.list_accepted, skill.id)


async def _accepted(
    session: AsyncSession, campaign: Campaign, intake: Intake, listed: bool, skill_id: int | None
) -> Accepted:
    if not listed:
        return Accepted(campaign, len(intake.rows), intake.failed, skill_id=skill_id)
    return Accepted(
        campaign,
        len(intake.rows),
        intake.failed,
        intake.accepted,
        await _newest_delivery_ids(session, campaign.id, len(intake.rows)),
        skill_id,
    )


async def _newest_delivery_ids(session: AsyncSession, campaign_id: str, count: int) -> list[int]:
    """The IDs of the campaign's ``count`` newest deliveries, oldest first: those of the
    consumers just taken in, in their order. One bulk insert numbers its rows in order (SQLite's
    rowids, PostgreSQL's sequence within one ``COPY``), and nothing else adds to the campaign
    meanwhile (a create is its campaign's first write; an append holds the campaign's lock)."""
    if count == 0:
        return []
    rows = await session.execute(
        select(Delivery.id)
        .where(Delivery.campaign_id == campaign_id)
        .order_by(Delivery.id.desc())
        .limit(count)
    )
    return sorted(rows.scalars())


async def get_campaign(
    session: AsyncSession, account_id: str, campaign_id: str, *, lock: bool = False
) -> Campaign:
    """The account's campaign, or 404. ``lock``: for a change that reads the campaign first
    (append, retry-failed), so that concurrent changes queue instead of racing: two appends
    would both miss each other's duplicates and lose each other's counts."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=lock)
    if campaign is None or campaign.account_id != account_id:
        raise NotFound(f"no campaign {campaign_id!r}")
    return campaign


async def append_consumers(
    session: AsyncSession,
    account_id: str,
    campaign_id: str,
    consumers: Sequence[ConsumerEntry],
    now: datetime,
    *,
    list_accepted: bool = True,
) -> Accepted:
    """Add consumers to a campaign that is still sending."""
    campaign = await get_campaign(session, account_id, campaign_id, lock=True)
    if campaign.status not in ACTIVE:
        raise Conflict(f"campaign is {campaign.status}: consumers can no longer be added")
    existing = await session.execute(
        select(Delivery.channel, Delivery.consumer_id, Delivery.phone).where(
            Delivery.campaign_id == campaign_id, Delivery.superseded_by.is_(None)
        )
    )
    seen = {
        (channel, (consumer_id if channel == "inapp" else phone) or "")
        for channel, consumer_id, phone in existing
    }
    intake = ConsumerIntake(
        account_id=account_id,
        campaign_id=campaign_id,
        handoff=HandoffSnapshot.from_json(campaign.handoff_snapshot),
        skill=campaign.skill,
        message_text=campaign.message_text,
        now=now,
        seen=seen,
        list_accepted=list_accepted,
    ).take(consumers)
    await lifecycle.add_queued(session, intake.rows)
    campaign.accepted_consumers += len(intake.rows)
    campaign.failed_consumers += len(intake.failed)
    await session.flush()
    skill = await find_skill(session, account_id, campaign.skill)
    return await _accepted(session, campaign, intake, list_accepted, skill.id if skill else None)


async def cancel_campaign(
    session: AsyncSession, account_id: str, campaign_id: str, now: datetime
) -> Campaign:
    """Queued deliveries → CANCELLED; ones a worker is sending right now finish as they will."""
    campaign = await get_campaign(session, account_id, campaign_id)
    if campaign.status not in ACTIVE:
        raise Conflict(f"campaign is {campaign.status}: nothing to cancel")
    # The deliveries first, the campaign row last: a worker's claim locks deliveries and then
    # their campaign (ACCEPTED → IN_PROGRESS), so taking the campaign first deadlocks with it on
    # PostgreSQL. Rows appended meanwhile are caught by ``cancel_leftovers``.
    await lifecycle.cancel_campaign_deliveries(session, campaign_id, now)
    marked = await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(ACTIVE))
        .values(status=CampaignStatus.CANCELLED, cancelled_at=now, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(marked, "rowcount", 0):  # it finished in the meantime
        raise Conflict("campaign is no longer running: nothing to cancel")
    await session.refresh(campaign)
    return campaign


async def cancel_leftovers(session: AsyncSession, now: datetime) -> None:
    """Pending, unleased deliveries of cancelled campaigns → CANCELLED (also catches retries
    that came back to the queue after the cancel, and consumers appended during it)."""
    cancelled = select(Campaign.id).where(Campaign.status == CampaignStatus.CANCELLED)
    await lifecycle.cancel_deliveries_of(session, cancelled, now)


async def retry_failed(
    session: AsyncSession, account_id: str, campaign_id: str, now: datetime
) -> int:
    """Queue again every delivery that failed for a reason that may pass now.

    The failed row keeps its history (status never moves back) and points at its new attempt.
    """
    campaign = await get_campaign(session, account_id, campaign_id, lock=True)
    if campaign.status == CampaignStatus.CANCELLED:
        raise Conflict("campaign is CANCELLED")
    failed = (
        (
            await session.execute(
                select(Delivery).where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.status == DeliveryStatus.FAILED,
                    Delivery.error_code.in_([c.value for c in RETRYABLE]),
                    Delivery.superseded_by.is_(None),
                )
            )
        )
        .scalars()
        .all()
    )
    if not failed:
        return 0
    requeued = await lifecycle.requeue(session, failed, now)
    campaign.status = CampaignStatus.IN_PROGRESS
    campaign.finished_at = None
    await session.flush()
    return requeued


async def mark_started(session: AsyncSession, campaign_ids: set[str]) -> None:
    """The dispatcher claimed deliveries of these campaigns: ACCEPTED → IN_PROGRESS."""
    if campaign_ids:
        await session.execute(
            update(Campaign)
            .where(Campaign.id.in_(campaign_ids), Campaign.status == CampaignStatus.ACCEPTED)
            .values(status=CampaignStatus.IN_PROGRESS)
            .execution_options(synchronize_session=False)
        )


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
    pending = exists().where(Delivery.campaign_id == Campaign.id, is_pending(Delivery.status))
    active = Campaign.status.in_(ACTIVE)
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


async def status_counts(session: AsyncSession, campaign_id: str) -> dict[str, int]:
    """The campaign's current recipients (a retried one as its latest attempt) by status."""
    return (await status_counts_of(session, [campaign_id]))[campaign_id]


async def status_counts_of(
    session: AsyncSession, campaign_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Each campaign's current recipients by delivery status, as kept by the lifecycle with
    every change (``campaign_status_counts``): one indexed read, whatever the campaign's size.
    Counting the rows instead took ~220 ms per 100,000 recipients on PostgreSQL on every poll
    (docs/architecture.md, "A campaign's counts are kept, not counted")."""
    counted: dict[str, dict[str, int]] = {campaign_id: {} for campaign_id in campaign_ids}
    if not campaign_ids:
        return counted
    rows = await session.execute(
        select(CampaignStatusCount.campaign_id, CampaignStatusCount.status, CampaignStatusCount.n)
        .where(CampaignStatusCount.campaign_id.in_(list(campaign_ids)))
        .where(CampaignStatusCount.n != 0)
    )
    for campaign_id, status, n in rows.all():
        counted[campaign_id][status] = int(n)
    # The kept QUEUED is every pending recipient; those waiting for a send window are counted
    # here, by index (few, and only while a campaign has recipients pending; a pending delivery
    # is never superseded: only failed ones are retried).
    pending = [c for c in campaign_ids if counted[c].get(DeliveryStatus.QUEUED.value)]
    if pending:
        scheduled = await session.execute(
            select(Delivery.campaign_id, func.count())
            .where(
                Delivery.campaign_id.in_(pending),
                Delivery.status == DeliveryStatus.SCHEDULED.value,
            )
            .group_by(Delivery.campaign_id)
        )
        for waiting_in, n in scheduled.all():
            waiting = counted[str(waiting_in)]
            queued = waiting.pop(DeliveryStatus.QUEUED.value)
            waiting[DeliveryStatus.SCHEDULED.value] = int(n)
            if queued > n:  # a later statement may see a change the first one didn't
                waiting[DeliveryStatus.QUEUED.value] = queued - int(n)
    return counted


async def status_counts_from_deliveries(session: AsyncSession, campaign_id: str) -> dict[str, int]:
    """The same counts, counted from the deliveries (what the kept ones must always equal)."""
    rows = await session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id, Delivery.superseded_by.is_(None))
        .group_by(Delivery.status)
    )
    return {status: int(n) for status, n in rows.all()}


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"d{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        digits = raw[1:]
        if not raw.startswith("d") or not (digits.isascii() and digits.isdigit()):
            raise ValueError(cursor)
        last_id = int(digits)
        if last_id > MAX_DELIVERY_ID:  # past 64 bits the driver raises (500)
            raise ValueError(cursor)
        return last_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_field("cursor", "not a cursor this API returned") from exc


async def list_recipients(
    session: AsyncSession,
    account_id: str,
    campaign_id: str,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Campaign, Sequence[Delivery], str | None]:
    """A page of the campaign's recipients, and the campaign read in the same snapshot."""
    campaign = await get_campaign(session, account_id, campaign_id)
    await prefer_indexes(session)
    query = select(Delivery).where(
        Delivery.campaign_id == campaign_id, Delivery.superseded_by.is_(None)
    )
    if status is not None:
        if status not in DeliveryStatus.__members__:
            raise invalid_field("status", f"one of {sorted(DeliveryStatus.__members__)}")
        query = query.where(Delivery.status == status)
    if cursor is not None:
        query = query.where(Delivery.id > decode_cursor(cursor))
    rows = (await session.execute(query.order_by(Delivery.id).limit(limit + 1))).scalars().all()
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return campaign, page, next_cursor


def encode_campaign_cursor(campaign_id: str) -> str:
    return base64.urlsafe_b64encode(f"c{campaign_id}".encode()).decode().rstrip("=")


def _decode_campaign_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_field("cursor", "not a cursor this API returned") from exc
    if not raw.startswith("c") or not 1 < len(raw) <= 37:
        raise invalid_field("cursor", "not a cursor this API returned")
    return raw[1:]


async def list_campaigns(
    session: AsyncSession,
    account_id: str,
    *,
    status: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Campaign], str | None]:
    """A page of the account's campaigns, newest first. The cursor names the last campaign of
    the previous page; the page goes on strictly after it in (created_at, id) order, so
    campaigns created meanwhile never shift a page (they are newer than the first one)."""
    query = select(Campaign).where(Campaign.account_id == account_id)
    if status is not None:
        if status not in CampaignStatus.__members__:
            raise invalid_field("status", f"one of {sorted(CampaignStatus.__members__)}")
        query = query.where(Campaign.status == status)
    if created_after is not None:
        query = query.where(Campaign.created_at >= created_after)
    if created_before is not None:
        query = query.where(Campaign.created_at < created_before)
    if cursor is not None:
        last = await session.get(Campaign, _decode_campaign_cursor(cursor))
        if last is None or last.account_id != account_id:
            raise invalid_field("cursor", "not a cursor this API returned")
        query = query.where(
            or_(
                Campaign.created_at < last.created_at,
                and_(Campaign.created_at == last.created_at, Campaign.id < last.id),
            )
        )
    query = query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit + 1)
    rows = (await session.execute(query)).scalars().all()
    page = rows[:limit]
    return page, encode_campaign_cursor(page[-1].id) if len(rows) > limit else None
