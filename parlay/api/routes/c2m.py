"""HTTP routes of the C2M API (SPEC §6): eligibility and invite, ``?v=2.0``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ContainerDep, require
from parlay.api.params import AccountIdPath, IdempotencyKeyHeader
from parlay.errors import UnsupportedApiVersion
from parlay.idempotency.service import idempotent
from parlay.outbound import c2m
from parlay.outbound.schemas import EligibilityIn, EligibilityOut, InviteIn, InviteOut
from parlay.ratelimit.limiter import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}", tags=["c2m"])
C2M = ApiFamily.C2M
SUPPORTED_VERSION = "2.0"
# Optional at the HTTP layer so that a missing ``v`` gets the same answer as a wrong one (1002),
# not a generic 1000 about a missing query parameter.
VersionQuery = Annotated[str | None, Query(description="API version; only 2.0 is served.")]


def _check_version(v: str | None) -> None:
    if v != SUPPORTED_VERSION:
        raise UnsupportedApiVersion(f"unsupported API version {v!r}: use v=2.0")


@router.post("/eligibility", operation_id="checkEligibility", response_model=EligibilityOut)
async def check_eligibility(
    accountId: AccountIdPath,
    body: EligibilityIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.C2M, C2M)],
    v: VersionQuery = None,
) -> EligibilityOut:
    """Which of the handoff's channels could reach this caller now, and why not the others."""
    _check_version(v)
    request = c2m.EligibilityRequest(
        skill=body.skill,
        consumer_phone_number=body.consumer_phone_number,
        handoff_id=body.handoff_id,
        consumer_id=body.consumer_id,
        ivr_number=body.ivr_number,
        template_variables=body.template_variables,
        sdes=body.sdes,
    )
    # An IVR caller is waiting: campaign work in this process holds back meanwhile.
    with c.urgent():
        async with c.db.write() as session:
            call, result = await c2m.eligibility(session, me.account_id, request, c.clock.now())
    return EligibilityOut.model_validate(
        {**result, "callId": call.id, "eligible": bool(result["availableChannels"])}
    )


@router.post("/invite", operation_id="sendInvite", response_model=InviteOut)
async def send_invite(
    accountId: AccountIdPath,
    body: InviteIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.C2M, C2M)],
    v: VersionQuery = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Send the invite on the recommended (or override) channel, ahead of every campaign.

    An open conversation answers ``status: NOT_SENT, reason: OPEN_CONVERSATION`` at once.
    """
    _check_version(v)
    request = c2m.InviteRequest(
        call_id=body.call_id,
        override_channel=body.override_channel,
        override_message=body.override_message,
        override_skill=body.override_skill,
    )
    now = c.clock.now()
    with c.urgent():
        async with c.db.write() as session:

            async def send() -> tuple[int, Any]:
                result = await c2m.invite(session, me.account_id, request, now)
                out = InviteOut(
                    call_id=result.call_id,
                    delivery_id=str(result.delivery_id) if result.delivery_id else None,
                    channel=result.channel,
                    status=result.status,
                    reason=result.reason,
                )
                return 200, out.model_dump(mode="json", by_alias=True)

            result = await idempotent(
                session,
                account_id=me.account_id,
                operation="c2m.invite",
                key=idempotency_key,
                body=body.model_dump(mode="json", by_alias=True, exclude_unset=True),
                now=now,
                ttl=c.settings.idempotency_ttl,
                work=send,
            )
    c.notify_new_work(priority=True)
    return JSONResponse(result.body, status_code=result.status)
