"""HTTP routes of the C2M API: eligibility and invite, ``?v=2.0``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.params import AccountIdPath, CallIdPath, IdempotencyKeyHeader
from parlay.api.routes.deliveries import delivery_out
from parlay.api.schemas.outbound import (
    EligibilityIn,
    EligibilityOut,
    IneligibleChannel,
    InviteIn,
    InviteOut,
    InviteStateOut,
)
from parlay.api.strict_json import api_router
from parlay.c2m import usecases
from parlay.c2m.service import EligibilityRequest, InviteRequest, InviteResult
from parlay.lib.errors import UnsupportedApiVersion
from parlay.lib.idempotency.service import Repeat
from parlay.lib.ratelimit import ApiFamily

router = api_router(prefix="/api/account/{accountId}", tags=["c2m"])
C2M = ApiFamily.C2M
SUPPORTED_VERSION = "2.0"
# Optional at the HTTP layer so that a missing ``v`` gets the same answer as a wrong one (1002),
# not a generic 1000 about a missing query parameter.
VersionQuery = Annotated[
    str | None, Query(max_length=16, description="API version; only 2.0 is served.")
]


def _check_version(v: str | None) -> None:
    if v != SUPPORTED_VERSION:
        raise UnsupportedApiVersion(f"unsupported API version {v!r}: use v=2.0")


def _invite_answer(result: InviteResult) -> tuple[int, Any]:
    out = InviteOut(
        call_id=result.call_id,
        delivery_id=str(result.delivery_id) if result.delivery_id else None,
        channel=result.channel,
        status=result.status,
        reason=result.reason,
    )
    return 200, out.model_dump(mode="json", by_alias=True)


@router.post("/eligibility", operation_id="checkEligibility", response_model=EligibilityOut)
async def check_eligibility(
    accountId: AccountIdPath,
    body: EligibilityIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.C2M, C2M)],
    v: VersionQuery = None,
) -> EligibilityOut:
    """Which of the handoff's channels could reach this caller now, and why not the others."""
    _check_version(v)
    request = EligibilityRequest(
        skill=body.skill,
        consumer_phone_number=body.consumer_phone_number,
        handoff_id=body.handoff_id,
        consumer_id=body.consumer_id,
        ivr_number=body.ivr_number,
        template_variables=body.template_variables,
        sdes=body.sdes,
    )
    call, availability = await usecases.check_eligibility(s.tx, s.calls, me.account_id, request)
    return EligibilityOut(
        call_id=call.id,
        eligible=availability.eligible,
        available_channels=availability.available,
        recommended_channel_name=availability.recommended,
        ineligible_channels=[
            IneligibleChannel(channel=i.channel, reason=i.reason) for i in availability.ineligible
        ],
    )


@router.post("/invite", operation_id="sendInvite", response_model=InviteOut)
async def send_invite(
    accountId: AccountIdPath,
    body: InviteIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.C2M, C2M)],
    v: VersionQuery = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Send the invite on the recommended (or override) channel, ahead of every campaign.

    An open conversation answers ``status: NOT_SENT, reason: OPEN_CONVERSATION`` at once.
    """
    _check_version(v)
    request = InviteRequest(
        call_id=body.call_id,
        override_channel=body.override_channel,
        override_message=body.override_message,
        override_skill=body.override_skill,
    )
    repeat = None
    if idempotency_key is not None:
        repeat = Repeat(
            idempotency_key, body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        )
    result = await usecases.send_invite(
        s.tx, me.account_id, request, repeat=repeat, answer=_invite_answer, lane=s.invites
    )
    return JSONResponse(result.body, status_code=result.status)


@router.get("/invite/{callId}", operation_id="getInvite", response_model=InviteStateOut)
async def get_invite(
    accountId: AccountIdPath,
    callId: CallIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.C2M, C2M)],
) -> InviteStateOut:
    """The call's invite: its answer, and its delivery's status and every stage time now (the
    IVR's read-back after ``QUEUED``). No ``v``: this route is Parlay's own."""
    state = await usecases.invite_state(s.tx, me.account_id, callId)
    answer = state.call.invite_answer
    return InviteStateOut(
        call_id=state.call.id,
        hand_off_id=state.call.handoff_id,
        skill=state.call.skill,
        created_at=state.call.created_at,
        expires_at=state.call.expires_at,
        invited=answer is not None,
        invite_status=answer.get("status") if answer is not None else None,
        reason=answer.get("reason") if answer is not None else None,
        delivery=delivery_out(state.delivery) if state.delivery is not None else None,
    )
