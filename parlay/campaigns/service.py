"""Proactive campaigns (SPEC §7): accept 1-100,000 consumers, queue one delivery each.

Per-consumer problems never fail the request: they come back in ``failedConsumers``. The campaign
row and every delivery row are written in one transaction with Core bulk inserts, so a campaign
is either wholly queued or not at all.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.service import require_skill
from parlay.db.bulk import insert_rows
from parlay.errors import Conflict, NotFound, invalid_field
from parlay.errors import ErrorCode as ApiErrorCode
from parlay.handoffs.models import Handoff
from parlay.handoffs.service import require_handoff
from parlay.outbound.context import placeholders
from parlay.outbound.models import Campaign, Delivery
from parlay.outbound.schemas import ConsumerIn
from parlay.outbound.status import (
    CAMPAIGN_PRIORITY,
    PENDING,
    RETRYABLE,
    CampaignStatus,
    DeliveryStatus,
    ErrorCode,
    ErrorSource,
    Source,
)
from parlay.phone import normalize_e164
from parlay.text import message_text_problem

# Cheap shape check at accept time; the full numbering-plan check runs at send time.
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_VARIABLE_KEY = re.compile(r"^[1-9]\d{0,2}$")
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
# A campaign still sending: it takes more consumers and can be cancelled.
ACTIVE = (CampaignStatus.ACCEPTED, CampaignStatus.IN_PROGRESS)


@dataclass(frozen=True)
class CampaignRequest:
    name: str
    skill: str
    handoff_id: str
    outbound_number: str | None
    consent: bool
    message_text: str | None
    consumers: Sequence[ConsumerIn]


# The columns of a queued delivery, in the order ``ConsumerIntake`` builds its rows.
DELIVERY_COLUMNS = (
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
)


@dataclass
class Intake:
    """The outcome of checking a list of consumers: rows to queue and refusals to report."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def snapshot(handoff: Handoff) -> dict[str, Any]:
    """The handoff frozen into the campaign or call (API casing)."""
    return {
        "id": handoff.id,
        "name": handoff.name,
        "skill": handoff.skill,
        "lookbackSeconds": handoff.lookback_seconds,
        "routeAllWithinLookback": handoff.route_all_within_lookback,
        "pushWhenLoggedIn": handoff.push_when_logged_in,
        "pushWhenLoggedOut": handoff.push_when_logged_out,
        "channels": handoff.channels,
    }


def _required_variables(channel: dict[str, Any], text: str | None) -> set[int]:
    if channel["type"] == "wa" and channel.get("templateName"):
        return set(range(1, int(channel.get("templateVariables") or 0) + 1))
    return placeholders(text or "")


def _variables_problem(variables: dict[str, str] | None, required: set[int]) -> str | None:
    given = variables or {}
    for key in given:
        if not _VARIABLE_KEY.match(key):
            return f"INVALID_VARIABLE={key}"
    for n in sorted(required):
        if str(n) not in given:
            return f"MISSING_VARIABLE={n}"
    if len(given) > len(required):
        return "TOO_MANY_VARIABLES"
    return None


class ConsumerIntake:
    """Checks consumers of one campaign against its handoff; remembers who is already in."""

    def __init__(
        self,
        *,
        account_id: str,
        campaign_id: str,
        handoff: dict[str, Any],
        skill: str,
        message_text: str | None,
        now: datetime,
        seen: set[tuple[str, str]] | None = None,
    ) -> None:
        self.account_id = account_id
        self.campaign_id = campaign_id
        self.handoff_id = handoff["id"]
        self.channels = handoff["channels"]
        self.skill = skill
        self.lookback = int(handoff["lookbackSeconds"])
        self.now = now
        self.expires_at = now + timedelta(seconds=self.lookback)
        self.required = {
            c["type"]: _required_variables(c, message_text or c.get("messageText"))
            for c in self.channels
        }
        self.seen = seen if seen is not None else set()

    def take(self, consumers: Sequence[ConsumerIn]) -> Intake:
        intake = Intake()
        first_type = self.channels[0]["type"]
        for consumer in consumers:
            content: dict[str, str] = consumer["consumerContent"]  # type: ignore[assignment]
            variables = consumer.get("variables")
            channel = next((c["type"] for c in self.channels if content.get(c["type"])), None)
            problem = None
            if channel is None:
                problem = f"MISSING_CONSUMER_INFORMATION={first_type}"
            else:
                address = content[channel]
                if channel != "inapp" and not _E164.match(address):
                    problem = ErrorCode.INVALID_NUMBER.value
                elif (channel, address) in self.seen:
                    problem = "DUPLICATE_CONSUMER"
                else:
                    problem = _variables_problem(variables, self.required[channel])
            if problem is not None:
                intake.failed.append(
                    {
                        "consumerContent": content,
                        "variables": variables,
                        "errorMessage": problem,
                    }
                )
                continue
            assert channel is not None
            self.seen.add((channel, content[channel]))
            intake.rows.append(self._row(channel, content, variables))
        return intake

    @staticmethod
    def _linked_phone(content: dict[str, str]) -> str | None:
        """The number an in-app consumer also gave, kept to link identities; one that is not
        E.164 is dropped (it is not where this message goes, so it does not refuse the consumer,
        and unchecked it could overflow the column)."""
        phone = content.get("sms") or content.get("wa")
        return phone if phone and _E164.match(phone) else None

    def _row(
        self, channel: str, content: dict[str, str], variables: dict[str, str] | None
    ) -> tuple[Any, ...]:
        return (
            self.account_id,
            Source.PROACTIVE.value,
            self.campaign_id,
            self.handoff_id,
            self.skill,
            CAMPAIGN_PRIORITY,
            channel,
            content.get("inapp"),
            content.get(channel) if channel != "inapp" else self._linked_phone(content),
            variables,
            self.lookback,
            self.expires_at,
            DeliveryStatus.QUEUED.value,
            0,
            self.now,
            self.now,
        )


async def _insert_deliveries(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    # Straight to the driver: the ORM unit of work would take seconds for 100,000 rows.
    await insert_rows(session, DELIVERIES, DELIVERY_COLUMNS, rows)


def _check_texts(handoff: Handoff, message_text: str | None) -> None:
    if message_text is not None and (problem := message_text_problem(message_text)):
        raise invalid_field("message.text", problem)
    for i, channel in enumerate(handoff.channels):
        has_template = channel["type"] == "wa" and channel.get("templateName")
        if not (message_text or channel.get("messageText") or has_template):
            raise invalid_field(
                "message.text",
                f"required: the handoff's {channel['type']} channel (channels[{i}]) has no "
                "messageText",
            )


@dataclass(frozen=True)
class Accepted:
    campaign: Campaign
    accepted: int
    failed: list[dict[str, Any]]


async def create_campaign(
    session: AsyncSession, account_id: str, request: CampaignRequest, now: datetime
) -> Accepted:
    if request.consent is not True:
        raise invalid_field("consent", "must be true: the brand confirms it holds opt-in consent")
    handoff = await require_handoff(session, account_id, request.handoff_id, "templateId")
    await require_skill(session, account_id, request.skill)
    _check_texts(handoff, request.message_text)
    outbound_number = None
    if request.outbound_number is not None:
        outbound_number = normalize_e164(request.outbound_number)
        if outbound_number is None:
            raise invalid_field(
                "outboundNumber", "not a valid E.164 number", ApiErrorCode.INVALID_PHONE_NUMBER
            )
    campaign_id = str(uuid.uuid4())
    frozen = snapshot(handoff)
    intake = ConsumerIntake(
        account_id=account_id,
        campaign_id=campaign_id,
        handoff=frozen,
        skill=request.skill,
        message_text=request.message_text,
        now=now,
    ).take(request.consumers)
    campaign = Campaign(
        id=campaign_id,
        account_id=account_id,
        name=request.name,
        skill=request.skill,
        handoff_id=handoff.id,
        handoff_snapshot=frozen,
        outbound_number=outbound_number,
        message_text=request.message_text,
        status=(CampaignStatus.ACCEPTED if intake.rows else CampaignStatus.FAILED).value,
        request_trace_id=uuid.uuid4().hex,
        accepted_consumers=len(intake.rows),
        failed_consumers=len(intake.failed),
        created_at=now,
        finished_at=None if intake.rows else now,
    )
    session.add(campaign)
    await session.flush()
    await _insert_deliveries(session, intake.rows)
    return Accepted(campaign, len(intake.rows), intake.failed)


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
    consumers: Sequence[ConsumerIn],
    now: datetime,
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
        handoff=campaign.handoff_snapshot,
        skill=campaign.skill,
        message_text=campaign.message_text,
        now=now,
        seen=seen,
    ).take(consumers)
    await _insert_deliveries(session, intake.rows)
    campaign.accepted_consumers += len(intake.rows)
    campaign.failed_consumers += len(intake.failed)
    await session.flush()
    return Accepted(campaign, len(intake.rows), intake.failed)


async def cancel_campaign(
    session: AsyncSession, account_id: str, campaign_id: str, now: datetime
) -> Campaign:
    """Queued deliveries → CANCELLED; ones a worker is sending right now finish as they will."""
    campaign = await get_campaign(session, account_id, campaign_id)
    if campaign.status not in ACTIVE:
        raise Conflict(f"campaign is {campaign.status}: nothing to cancel")
    # The deliveries first, the campaign row last: a worker's claim locks deliveries and then
    # their campaign (ACCEPTED → IN_PROGRESS), so taking the campaign first deadlocks with it on
    # PostgreSQL. Rows appended meanwhile are caught by the dispatcher's ``cancel_leftovers``.
    await _cancel_pending(session, now, Delivery.campaign_id == campaign_id)
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
    await _cancel_pending(session, now, Delivery.campaign_id.in_(cancelled.scalar_subquery()))


async def _cancel_pending(session: AsyncSession, now: datetime, which: Any) -> None:
    await session.execute(
        update(Delivery)
        .where(
            which,
            Delivery.status.in_([s.value for s in PENDING]),
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .values(
            status=DeliveryStatus.CANCELLED,
            cancelled_time=now,
            error_code=ErrorCode.CANCELLED,
            error_message="the campaign was cancelled",
            error_source=ErrorSource.PARLAY,
        )
        .execution_options(synchronize_session=False)
    )


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
    expires_at = now + timedelta(seconds=failed[0].lookback_seconds)
    rows = [
        {
            "account_id": d.account_id,
            "source": d.source,
            "campaign_id": d.campaign_id,
            "call_id": None,
            "handoff_id": d.handoff_id,
            "skill": d.skill,
            "priority": d.priority,
            "channel": d.channel,
            "consumer_id": d.consumer_id,
            "phone": d.phone,
            "variables": d.variables,
            "message_text": d.message_text,
            "lookback_seconds": d.lookback_seconds,
            "expires_at": expires_at,
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
    for old, new_id in zip(failed, new_ids, strict=True):
        old.superseded_by = new_id
    campaign.status = CampaignStatus.IN_PROGRESS
    campaign.finished_at = None
    await session.flush()
    return len(failed)


async def status_counts(session: AsyncSession, campaign_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id, Delivery.superseded_by.is_(None))
        .group_by(Delivery.status)
    )
    return {status: int(count) for status, count in rows.all()}


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"d{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("d"):
            raise ValueError(cursor)
        return int(raw[1:])
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
) -> tuple[Sequence[Delivery], str | None]:
    await get_campaign(session, account_id, campaign_id)
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
    return page, next_cursor
