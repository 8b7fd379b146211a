"""Connect-to-Messaging (SPEC §6): eligibility of a caller per channel, then the invite.

Eligibility runs the same checks as the dispatcher (``parlay.outbound.checks``), so "available"
means "a send on it now would be attempted". The invite re-checks, answers ``NOT_SENT`` with the
reason when it cannot send (an open conversation above all), and otherwise queues the delivery in
the priority lane, ahead of every campaign delivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.service import find_skill, require_skill
from parlay.consumers.models import Consumer
from parlay.errors import (
    CannotSend,
    ErrorCode,
    OverrideChannelNotAvailable,
    OverrideSkillNotAllowed,
    invalid_field,
)
from parlay.handoffs.service import require_handoff
from parlay.observability.logging import get_logger
from parlay.outbound.campaigns import snapshot
from parlay.outbound.checks import CheckResult, Fail, Recipient, check, load_facts
from parlay.outbound.models import Call, Delivery
from parlay.outbound.status import (
    INVITE_PRIORITY,
    STAGE_TIME,
    DeliveryStatus,
    ErrorSource,
    Source,
)
from parlay.phone import normalize_e164
from parlay.text import message_text_problem

CHANNEL_ALIASES = {"twilio": "sms"}
log = get_logger("parlay.c2m")


@dataclass(frozen=True)
class EligibilityRequest:
    skill: str
    consumer_phone_number: str
    handoff_id: str
    consumer_id: str | None
    ivr_number: str | None
    template_variables: dict[str, str] | None
    sdes: list[dict[str, Any]] | None


@dataclass(frozen=True)
class InviteRequest:
    call_id: str
    override_channel: str | None
    override_message: str | None
    override_skill: str | None


@dataclass(frozen=True)
class InviteResult:
    call_id: str
    delivery_id: int | None
    channel: str | None
    status: str
    reason: str | None


def _recipient(call: Call, channel: str) -> Recipient:
    handoff = call.handoff_snapshot
    app_ids: tuple[str, ...] = ()
    for c in handoff["channels"]:
        if c["type"] == "inapp":
            app_ids = tuple(c.get("appIds") or ())
    return Recipient(
        account_id=call.account_id,
        channel=channel,
        consumer_id=call.consumer_id,
        phone=call.consumer_phone,
        app_ids=app_ids,
        push_when_logged_in=handoff["pushWhenLoggedIn"],
        push_when_logged_out=handoff["pushWhenLoggedOut"],
    )


async def _check_channels(
    session: AsyncSession, call: Call, now: datetime
) -> dict[str, CheckResult]:
    """The send-time checks for each of the handoff's channels, in priority order."""
    channels = [c["type"] for c in call.handoff_snapshot["channels"]]
    recipients = {kind: _recipient(call, kind) for kind in channels}
    facts = await load_facts(session, recipients.values())
    return {kind: check(recipients[kind], facts, now, quiet_hours=False) for kind in channels}


def _summary(results: dict[str, CheckResult]) -> dict[str, Any]:
    """Availability as the eligibility API answers it."""
    available, ineligible = [], []
    for kind, result in results.items():
        if isinstance(result, Fail):
            ineligible.append({"channel": kind, "reason": result.code.value})
        else:
            available.append(kind)
    return {
        "availableChannels": available,
        "recommendedChannelName": available[0] if available else "",
        "ineligibleChannels": ineligible,
    }


async def link_identities(
    session: AsyncSession, account_id: str, consumer_id: str | None, phone: str, now: datetime
) -> None:
    """Remember that this consumer ID and this phone are one person (learned together).

    Best effort, in a savepoint: two calls about the same new caller at the same moment (an IVR
    retrying on a timeout) both find nobody and both insert; the loser's unique violation must
    not turn its eligibility answer into a 500. What the winner wrote stands.
    """
    try:
        async with session.begin_nested():
            await _link(session, account_id, consumer_id, phone, now)
    except IntegrityError:
        log.info("identities learned concurrently; keeping the other call's link")


async def _link(
    session: AsyncSession, account_id: str, consumer_id: str | None, phone: str, now: datetime
) -> None:
    by_phone = await session.scalar(
        select(Consumer).where(Consumer.account_id == account_id, Consumer.phone == phone)
    )
    if consumer_id is None:
        if by_phone is None:
            session.add(Consumer(account_id=account_id, phone=phone, created_at=now))
            await session.flush()
        return
    by_id = await session.scalar(
        select(Consumer).where(
            Consumer.account_id == account_id, Consumer.consumer_id == consumer_id
        )
    )
    if by_id is None and by_phone is None:
        session.add(
            Consumer(account_id=account_id, consumer_id=consumer_id, phone=phone, created_at=now)
        )
    elif by_id is None and by_phone is not None and by_phone.consumer_id is None:
        by_phone.consumer_id = consumer_id
    elif by_id is not None and by_id.phone is None and by_phone is None:
        by_id.phone = phone
    # Otherwise both are known and linked elsewhere: never move a number between consumers here.
    await session.flush()


async def eligibility(
    session: AsyncSession, account_id: str, request: EligibilityRequest, now: datetime
) -> tuple[Call, dict[str, Any]]:
    await require_skill(session, account_id, request.skill)
    phone = normalize_e164(request.consumer_phone_number)
    if phone is None:
        raise invalid_field(
            "consumerPhoneNumber", "not a valid E.164 number", ErrorCode.INVALID_PHONE_NUMBER
        )
    handoff = await require_handoff(session, account_id, request.handoff_id)
    if any(c["type"] == "inapp" for c in handoff.channels) and not request.consumer_id:
        raise invalid_field("consumerId", "required for an in-app handoff")
    await link_identities(session, account_id, request.consumer_id, phone, now)
    call = Call(
        id=str(uuid.uuid4()),
        account_id=account_id,
        handoff_id=handoff.id,
        handoff_snapshot=snapshot(handoff),
        skill=request.skill,
        consumer_phone=phone,
        consumer_id=request.consumer_id,
        ivr_number=request.ivr_number,
        template_variables=request.template_variables,
        sdes=request.sdes,
        eligibility={},
        created_at=now,
        # Kept for the invite for the whole lookback period.
        expires_at=now + timedelta(seconds=handoff.lookback_seconds),
    )
    call.eligibility = _summary(await _check_channels(session, call, now))
    session.add(call)
    await session.flush()
    return call, call.eligibility


async def invite(
    session: AsyncSession, account_id: str, request: InviteRequest, now: datetime
) -> InviteResult:
    # Locked: two invites on one call at the same moment (a double submit) must not both send.
    call = await session.get(Call, request.call_id, with_for_update=True)
    if call is None or call.account_id != account_id or call.expires_at <= now:
        raise invalid_field("callId", "no such call, or it expired: check eligibility again")
    if call.delivery_id is not None:
        raise CannotSend("an invite was already sent on this call")
    skill = call.skill
    if request.override_skill is not None:
        if await find_skill(session, account_id, request.override_skill) is None:
            raise OverrideSkillNotAllowed(
                f"overrideSkill: no skill named {request.override_skill!r} in this account"
            )
        skill = request.override_skill
    if request.override_message is not None and (
        problem := message_text_problem(request.override_message)
    ):
        raise invalid_field("overrideMessage", problem)
    handoff_channels = [c["type"] for c in call.handoff_snapshot["channels"]]
    checked = await _check_channels(session, call, now)
    current = _summary(checked)
    if request.override_channel is not None:
        channel = CHANNEL_ALIASES.get(request.override_channel, request.override_channel)
        if channel not in handoff_channels:
            raise OverrideChannelNotAvailable(
                f"overrideChannel: the handoff has no {channel} channel"
            )
        blocked = {i["channel"]: i["reason"] for i in current["ineligibleChannels"]}
        if channel in blocked and blocked[channel] != "OPEN_CONVERSATION":
            raise OverrideChannelNotAvailable(
                f"overrideChannel: {channel} is not available ({blocked[channel]})"
            )
    else:
        channel = current["recommendedChannelName"] or handoff_channels[0]
    return await _queue_invite(
        session, call, channel, checked[channel], skill, request.override_message, now
    )


async def _queue_invite(
    session: AsyncSession,
    call: Call,
    channel: str,
    result: CheckResult,
    skill: str,
    override_message: str | None,
    now: datetime,
) -> InviteResult:
    """Record the invite: queued in the priority lane, or NOT_SENT with the check's reason."""
    lookback = int(call.handoff_snapshot["lookbackSeconds"])
    row: dict[str, Any] = {
        "account_id": call.account_id,
        "source": Source.IVR_DEFLECTION.value,
        "campaign_id": None,
        "call_id": call.id,
        "handoff_id": call.handoff_id,
        "skill": skill,
        "priority": INVITE_PRIORITY,
        "channel": channel,
        "consumer_id": call.consumer_id,
        "phone": call.consumer_phone,
        "variables": call.template_variables,
        "message_text": override_message,
        "lookback_seconds": lookback,
        "expires_at": now + timedelta(seconds=lookback),
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "attempted_time": now,
    }
    reason = None
    if isinstance(result, Fail):
        # Not sent, and said so at once; the attempt is still recorded for reporting.
        reason = result.code.value
        row |= {
            "status": result.status.value,
            STAGE_TIME[result.status]: now,
            "error_code": reason,
            "error_message": result.message,
            "error_source": ErrorSource.PARLAY.value,
        }
    delivery_id = (
        await session.execute(insert(Delivery).values(**row).returning(Delivery.id))
    ).scalar_one()
    call.delivery_id = delivery_id
    await session.flush()
    status = "NOT_SENT" if reason else DeliveryStatus.QUEUED.value
    return InviteResult(call.id, delivery_id, channel, status, reason)
