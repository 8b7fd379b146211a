"""HTTP routes of handoffs (SPEC §5). Reading: admins, campaign/agent managers, ``handoffs:read``
keys; writing: admin and campaign manager only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ContainerDep, require
from parlay.api.params import AccountIdPath, IdempotencyKeyHeader
from parlay.handoffs import service
from parlay.handoffs.models import Handoff
from parlay.handoffs.schemas import HandoffIn, HandoffList, HandoffOut
from parlay.idempotency.service import idempotent
from parlay.ratelimit.limiter import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}/handoffs", tags=["handoffs"])
CONFIG = ApiFamily.CONFIG


def _spec(body: HandoffIn) -> service.HandoffSpec:
    return service.HandoffSpec(
        name=body.name,
        skill=body.skill,
        lookback_period_day=body.lookback_period_day,
        lookback_period_hour=body.lookback_period_hour,
        route_all_within_lookback=body.route_all_within_lookback,
        push_when_logged_in=body.push_when_logged_in,
        push_when_logged_out=body.push_when_logged_out,
        channels=[c.model_dump(by_alias=True, exclude_none=True) for c in body.channels],
    )


def handoff_out(handoff: Handoff) -> HandoffOut:
    return HandoffOut.model_validate(handoff)


@router.post("", operation_id="createHandoff", status_code=201, response_model=HandoffOut)
async def create_handoff(
    accountId: AccountIdPath,
    body: HandoffIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_WRITE, CONFIG)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Create a handoff. With ``Idempotency-Key``, a repeat returns the first response."""
    async with c.db.write() as session:

        async def create() -> tuple[int, Any]:
            handoff = await service.create_handoff(
                session, me.account_id, _spec(body), c.clock.now()
            )
            return 201, handoff_out(handoff).model_dump(mode="json", by_alias=True)

        result = await idempotent(
            session,
            account_id=me.account_id,
            operation="handoff.create",
            key=idempotency_key,
            body=body.model_dump(mode="json", by_alias=True, exclude_unset=True),
            now=c.clock.now(),
            ttl=c.settings.idempotency_ttl,
            work=create,
        )
    return JSONResponse(result.body, status_code=result.status)


@router.get("", operation_id="listHandoffs", response_model=HandoffList)
async def list_handoffs(
    accountId: AccountIdPath,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_READ, CONFIG)],
) -> HandoffList:
    """The account's handoffs."""
    async with c.db.read() as session:
        handoffs = await service.list_handoffs(session, me.account_id)
    return HandoffList(handoffs=[handoff_out(h) for h in handoffs])


@router.get("/{handoffId}", operation_id="getHandoff", response_model=HandoffOut)
async def get_handoff(
    accountId: AccountIdPath,
    handoffId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_READ, CONFIG)],
) -> HandoffOut:
    """One handoff."""
    async with c.db.read() as session:
        return handoff_out(await service.get_handoff(session, me.account_id, handoffId))


@router.put("/{handoffId}", operation_id="replaceHandoff", response_model=HandoffOut)
async def replace_handoff(
    accountId: AccountIdPath,
    handoffId: str,
    body: HandoffIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_WRITE, CONFIG)],
) -> HandoffOut:
    """Replace a handoff's configuration (the same rules as creation)."""
    async with c.db.write() as session:
        handoff = await service.replace_handoff(
            session, me.account_id, handoffId, _spec(body), c.clock.now()
        )
        return handoff_out(handoff)


@router.delete("/{handoffId}", operation_id="deleteHandoff", status_code=204)
async def delete_handoff(
    accountId: AccountIdPath,
    handoffId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.HANDOFFS_WRITE, CONFIG)],
) -> Response:
    """Delete a handoff. Campaigns and calls that already used it keep their history."""
    async with c.db.write() as session:
        await service.delete_handoff(session, me.account_id, handoffId, c.clock.now())
    return Response(status_code=204)
