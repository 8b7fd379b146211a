"""HTTP routes of handoffs. Reading: admins, campaign/agent managers, ``handoffs:read``
keys; writing: admin and campaign manager only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Response
from fastapi.responses import JSONResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath, HandoffIdPath, IdempotencyKeyHeader
from parlay.api.schemas.handoffs import HandoffCreateIn, HandoffIn, HandoffList, HandoffOut
from parlay.api.strict_json import api_router
from parlay.handoffs import service, usecases
from parlay.handoffs.models import Handoff
from parlay.handoffs.snapshot import ChannelConfig
from parlay.lib.idempotency.service import Repeat
from parlay.lib.ratelimit import ApiFamily

router = api_router(prefix="/api/account/{accountId}/handoffs", tags=["handoffs"])
CONFIG = ApiFamily.CONFIG


def handoff_spec(body: HandoffIn) -> service.HandoffSpec:
    """The use case's input from the request body (the web tool's form maps to it too)."""
    return service.HandoffSpec(
        name=body.name,
        skill=body.skill,
        lookback_period_day=body.lookback_period_day,
        lookback_period_hour=body.lookback_period_hour,
        route_all_within_lookback=body.route_all_within_lookback,
        push_when_logged_in=body.push_when_logged_in,
        push_when_logged_out=body.push_when_logged_out,
        channels=[
            ChannelConfig(
                type=c.type,
                outbound_number=c.outbound_number,
                app_ids=tuple(c.app_ids) if c.app_ids is not None else None,
                message_text=c.message_text,
                notification_title=c.notification_title,
                template_name=c.template_name,
                template_language=c.template_language,
                template_variables=c.template_variables,
            )
            for c in body.channels
        ],
    )


def handoff_out(handoff: Handoff) -> HandoffOut:
    return HandoffOut.model_validate(handoff)


@router.post(
    "",
    operation_id="createHandoff",
    status_code=201,
    response_model=HandoffOut,
    responses=problems(409),
)
async def create_handoff(
    accountId: AccountIdPath,
    body: HandoffCreateIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_WRITE, CONFIG)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Create a handoff. With ``Idempotency-Key``, a repeat returns the first response. An
    admin may give its ``id`` (one it had at LivePerson); an ID in use answers 409."""
    repeat = None
    if idempotency_key is not None:
        repeat = Repeat(
            idempotency_key, body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        )

    def answer(handoff: Handoff) -> tuple[int, Any]:
        return 201, handoff_out(handoff).model_dump(mode="json", by_alias=True)

    result = await usecases.create_handoff(
        s.tx,
        me.account_id,
        handoff_spec(body),
        repeat=repeat,
        answer=answer,
        handoff_id=body.id,
        may_choose_id="admin" in me.roles,
    )
    return JSONResponse(result.body, status_code=result.status)


@router.get("", operation_id="listHandoffs", response_model=HandoffList)
async def list_handoffs(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_READ, CONFIG)],
) -> HandoffList:
    """The account's handoffs."""
    handoffs = await usecases.list_handoffs(s.tx, me.account_id)
    return HandoffList(handoffs=[handoff_out(h) for h in handoffs])


@router.get("/{handoffId}", operation_id="getHandoff", response_model=HandoffOut)
async def get_handoff(
    accountId: AccountIdPath,
    handoffId: HandoffIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_READ, CONFIG)],
) -> HandoffOut:
    """One handoff."""
    return handoff_out(await usecases.get_handoff(s.tx, me.account_id, handoffId))


@router.put("/{handoffId}", operation_id="replaceHandoff", response_model=HandoffOut)
async def replace_handoff(
    accountId: AccountIdPath,
    handoffId: HandoffIdPath,
    body: HandoffIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_WRITE, CONFIG)],
) -> HandoffOut:
    """Replace a handoff's configuration (the same rules as creation)."""
    handoff = await usecases.replace_handoff(s.tx, me.account_id, handoffId, handoff_spec(body))
    return handoff_out(handoff)


@router.delete("/{handoffId}", operation_id="deleteHandoff", status_code=204)
async def delete_handoff(
    accountId: AccountIdPath,
    handoffId: HandoffIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_WRITE, CONFIG)],
) -> Response:
    """Delete a handoff. Campaigns and calls that already used it keep their history."""
    await usecases.delete_handoff(s.tx, me.account_id, handoffId)
    return Response(status_code=204)
