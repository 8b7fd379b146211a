"""Connect-to-Messaging: eligibility of a caller per channel, then the invite.

Eligibility runs the same send-time checks as the dispatcher (``parlay.eligibility``), so
"available" means "a send on it now would be attempted". The invite re-checks, answers
``NOT_SENT`` with the reason when it cannot send (an open conversation above all), and otherwise
queues the delivery in the priority lane, ahead of every campaign delivery. These functions work
inside the caller's unit of work (``parlay.c2m.usecases`` opens it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.service import check_skill, find_skill
from parlay.c2m.models import Call
from parlay.consumers.identities import IdentityLink, link_identities
from parlay.delivery import lifecycle
from parlay.delivery.queue import Lease
from parlay.delivery.status import INVITE_PRIORITY, DeliveryStatus, ErrorCode, Source
from parlay.eligibility.facts import load_facts
from parlay.eligibility.rules import CheckResult, Fail, Recipient, check
from parlay.handoffs.service import require_handoff_snapshot
from parlay.handoffs.snapshot import HandoffSnapshot
from parlay.lib.db.base import table_of
from parlay.lib.db.direct import DirectWrite, Reader
from parlay.lib.errors import (
    CannotSend,
    OverrideChannelNotAvailable,
    OverrideSkillNotAllowed,
    invalid_field,
)
from parlay.lib.errors import ErrorCode as ApiErrorCode
from parlay.lib.phone import e164_shape
from parlay.lib.text import MAX_MESSAGE_LENGTH, MAX_SMS_LENGTH, message_text_problem

CHANNEL_ALIASES = {"twilio": "sms"}
CALLS = table_of(Call)
_INSERT_CALLS = DirectWrite(insert(CALLS))


@dataclass(frozen=True)
class EligibilityRequest:
    skill: str
    consumer_phone_number: str
    handoff_id: str
    consumer_id: str | None
    ivr_number: str | None
    template_variables: dict[str, str] | None
    # The IVR's structured data about the caller (JSON as the brand sent it), shown to the agent.
    sdes: Sequence[Mapping[str, Any]] | None


@dataclass(frozen=True)
class InviteRequest:
    call_id: str
    override_channel: str | None
    override_message: str | None
    override_skill: str | None


@dataclass(frozen=True)
class Ineligible:
    channel: str
    reason: str  # the per-delivery error code a send would fail with


@dataclass(frozen=True)
class Availability:
    """Which of the handoff's channels could reach the caller now, in priority order."""

    available: list[str] = field(default_factory=list)
    ineligible: list[Ineligible] = field(default_factory=list)

    @property
    def recommended(self) -> str:
        return self.available[0] if self.available else ""

    @property
    def eligible(self) -> bool:
        return bool(self.available)

    def to_json(self) -> dict[str, Any]:
        """As stored on the call (API casing)."""
        return {
            "availableChannels": self.available,
            "recommendedChannelName": self.recommended,
            "ineligibleChannels": [
                {"channel": i.channel, "reason": i.reason} for i in self.ineligible
            ],
        }


@dataclass(frozen=True)
class InviteResult:
    call_id: str
    delivery_id: int | None
    channel: str | None
    status: str  # QUEUED | NOT_SENT
    reason: str | None
    # Queued by this request (not the first answer given again to a repeat): its delivery is
    # the row just inserted, leased if the invite was given a lease.
    queued_now: bool = False

    def to_json(self) -> dict[str, Any]:
        """As kept on the call, to answer a repeated invite."""
        return {
            "deliveryId": self.delivery_id,
            "channel": self.channel,
            "status": self.status,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, call_id: str, data: dict[str, Any]) -> InviteResult:
        return cls(call_id, data["deliveryId"], data["channel"], data["status"], data["reason"])


def _recipient(call: Call, handoff: HandoffSnapshot, channel: str) -> Recipient:
    return Recipient(
        account_id=call.account_id,
        channel=channel,
        consumer_id=call.consumer_id,
        phone=call.consumer_phone,
        app_ids=handoff.app_ids,
        push_when_logged_in=handoff.push_when_logged_in,
        push_when_logged_out=handoff.push_when_logged_out,
    )


async def _check_channels(session: Reader, call: Call, now: datetime) -> dict[str, CheckResult]:
    """The send-time checks for each of the handoff's channels, in priority order."""
    handoff = HandoffSnapshot.from_json(call.handoff_snapshot)
    recipients = {kind: _recipient(call, handoff, kind) for kind in handoff.channel_types}
    facts = await load_facts(session, recipients.values())
    return {kind: check(r, facts, now, quiet_hours=False) for kind, r in recipients.items()}


def _availability(results: dict[str, CheckResult]) -> Availability:
    availability = Availability()
    for kind, result in results.items():
        if isinstance(result, Fail):
            availability.ineligible.append(Ineligible(kind, result.code.value))
        else:
            availability.available.append(kind)
    return availability


async def check_caller(
    session: Reader, account_id: str, request: EligibilityRequest, now: datetime
) -> tuple[Call, Availability]:
    """The eligibility answer, decided on reads alone: the request checked, the handoff read, the
    caller's channels checked. The call it answers with is built, not stored (``record_calls``).

    The checks run before the call's identities are linked (``record_calls``) and still answer as
    if they were: a check reaches the caller by both the consumer ID and the number of the
    request, so the groups of identities it looks through (open conversations) are the same
    either way; and a consumer row without a consumer ID never holds a first login (only an
    app's registration, which names the consumer ID, sets it), so linking the number's row to
    the consumer ID makes nobody "logged in once" who was not.
    """
    await check_skill(session, account_id, request.skill)
    # Only the shape fails the request: a well-formed number that cannot take an SMS (a
    # landline, a range not in use) makes the SMS channel ineligible (INVALID_NUMBER) instead.
    phone = e164_shape(request.consumer_phone_number)
    if phone is None:
        raise invalid_field(
            "consumerPhoneNumber",
            "not an E.164 number (country code and up to 15 digits, '+' optional)",
            ApiErrorCode.INVALID_PHONE_NUMBER,
        )
    snapshot = await require_handoff_snapshot(session, account_id, request.handoff_id)
    if "inapp" in snapshot.channel_types and not request.consumer_id:
        raise invalid_field("consumerId", "required for an in-app handoff")
    call = Call(
        id=str(uuid.uuid4()),
        account_id=account_id,
        handoff_id=snapshot.id,
        handoff_snapshot=snapshot.to_json(),
        skill=request.skill,
        consumer_phone=phone,
        consumer_id=request.consumer_id,
        ivr_number=request.ivr_number,
        template_variables=request.template_variables,
        sdes=[dict(s) for s in request.sdes] if request.sdes is not None else None,
        eligibility={},
        created_at=now,
        # Kept for the invite for the whole lookback period.
        expires_at=now + timedelta(seconds=snapshot.lookback_seconds),
    )
    availability = _availability(await _check_channels(session, call, now))
    call.eligibility = availability.to_json()
    return call, availability


async def record_calls(session: AsyncSession, calls: Sequence[Call]) -> None:
    """Store what eligibility checks learned: each caller's identities linked (the consumer ID
    and the number are one person), in the order the checks answered, and the calls, which an
    invite sends on, in one INSERT. Each at the time of its check (``call.created_at``)."""
    await link_identities(
        session,
        [IdentityLink(c.account_id, c.consumer_id, c.consumer_phone, c.created_at) for c in calls],
    )
    # One INSERT of the rows as built, straight to the driver (the ORM's flush of new objects,
    # and SQLAlchemy's execution, cost more here than the statement itself); the call objects
    # stay as the checks answered them.
    await _INSERT_CALLS.run_many(
        session, [{c.key: getattr(call, c.key) for c in CALLS.c} for call in calls]
    )


async def invite(
    session: AsyncSession,
    account_id: str,
    request: InviteRequest,
    now: datetime,
    lease: Lease | None = None,
) -> InviteResult:
    """Queue the invite of a checked call (``lease``: inserted already claimed by it)."""
    # Locked: two invites on one call at the same moment (a double submit) must not both send.
    call = await session.get(Call, request.call_id, with_for_update=True)
    if call is None or call.account_id != account_id or call.expires_at <= now:
        raise invalid_field("callId", "no such call, or it expired: check eligibility again")
    if call.delivery_id is not None:
        # A repeat (a retry after a timeout, a double submit): the first answer, nothing sent.
        if call.invite_answer is not None:
            return InviteResult.from_json(call.id, call.invite_answer)
        raise CannotSend("an invite was already sent on this call")
    skill = call.skill
    if request.override_skill is not None:
        if await find_skill(session, account_id, request.override_skill) is None:
            raise OverrideSkillNotAllowed(
                f"overrideSkill: no skill named {request.override_skill!r} in this account"
            )
        skill = request.override_skill
    handoff_channels = HandoffSnapshot.from_json(call.handoff_snapshot).channel_types
    checked = await _check_channels(session, call, now)
    current = _availability(checked)
    if request.override_channel is not None:
        channel = CHANNEL_ALIASES.get(request.override_channel, request.override_channel)
        if channel not in handoff_channels:
            raise OverrideChannelNotAvailable(
                f"overrideChannel: the handoff has no {channel} channel"
            )
        blocked = {i.channel: i.reason for i in current.ineligible}
        if channel in blocked and blocked[channel] != ErrorCode.OPEN_CONVERSATION:
            raise OverrideChannelNotAvailable(
                f"overrideChannel: {channel} is not available ({blocked[channel]})"
            )
    else:
        channel = current.recommended or handoff_channels[0]
    if request.override_message is not None:
        longest = MAX_SMS_LENGTH if channel == "sms" else MAX_MESSAGE_LENGTH
        if problem := message_text_problem(request.override_message, max_length=longest):
            raise invalid_field("overrideMessage", problem)
    return await _queue_invite(
        session, call, channel, checked[channel], skill, request.override_message, now, lease
    )


async def _queue_invite(
    session: AsyncSession,
    call: Call,
    channel: str,
    result: CheckResult,
    skill: str,
    override_message: str | None,
    now: datetime,
    lease: Lease | None,
) -> InviteResult:
    """Record the invite: queued in the priority lane, or NOT_SENT with the check's reason."""
    lookback = HandoffSnapshot.from_json(call.handoff_snapshot).lookback_seconds
    fields: dict[str, Any] = {
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
    }
    # Not sent, and said so at once; the attempt is still recorded for reporting.
    not_sent = (
        lifecycle.NotSent(result.status, result.code, result.message)
        if isinstance(result, Fail)
        else None
    )
    delivery_id = await lifecycle.add_invite(session, fields, not_sent, now, lease)
    if not_sent is not None:
        answer = InviteResult(call.id, delivery_id, channel, "NOT_SENT", not_sent.code.value)
    else:
        answer = InviteResult(
            call.id, delivery_id, channel, DeliveryStatus.QUEUED.value, None, queued_now=True
        )
    call.delivery_id = delivery_id
    call.invite_answer = answer.to_json()
    await session.flush()
    return answer
