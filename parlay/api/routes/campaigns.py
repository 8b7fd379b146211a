"""HTTP routes of the Proactive API (SPEC §7): campaigns and their recipients."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ContainerDep, require
from parlay.api.params import AccountIdPath, IdempotencyKeyHeader
from parlay.idempotency.service import idempotent
from parlay.outbound import campaigns as service
from parlay.outbound.models import Campaign, Delivery
from parlay.outbound.schemas import (
    AppendConsumersIn,
    CampaignAccepted,
    CampaignIn,
    CampaignOut,
    RecipientOut,
    RecipientPage,
)
from parlay.ratelimit.limiter import ApiFamily

router = APIRouter(prefix="/api/v2/account/{accountId}/campaign", tags=["proactive"])
PROACTIVE = ApiFamily.PROACTIVE


def _accepted_payload(result: service.Accepted) -> dict[str, Any]:
    return {
        "proactiveCampaignId": result.campaign.id,
        "acceptedConsumers": result.accepted,
        "failedConsumers": result.failed,
        "requestTraceId": result.campaign.request_trace_id,
    }


def _campaign_out(campaign: Campaign, counts: dict[str, int]) -> CampaignOut:
    return CampaignOut(
        proactive_campaign_id=campaign.id,
        campaign_name=campaign.name,
        campaign_status=campaign.status,
        skill=campaign.skill,
        template_id=campaign.handoff_id,
        counts=counts,
        accepted_consumers=campaign.accepted_consumers,
        failed_consumers=campaign.failed_consumers,
        created_at=campaign.created_at,
        finished_at=campaign.finished_at,
    )


def _recipient_out(d: Delivery) -> RecipientOut:
    return RecipientOut(
        id=str(d.id),
        consumer_id=d.consumer_id,
        phone_number=d.phone,
        channel=d.channel,
        status=d.status,
        error_code=d.error_code,
        error_message=d.error_message,
        error_source=d.error_source,
        conversation_id=d.conversation_id,
    )


@router.post(
    "",
    operation_id="createCampaign",
    status_code=202,
    response_model=CampaignAccepted,
)
async def create_campaign(
    accountId: AccountIdPath,
    body: CampaignIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Send one message to 1-100,000 consumers. Per-consumer problems are reported in
    ``failedConsumers`` and do not fail the request."""
    request = service.CampaignRequest(
        name=body.campaign_name,
        skill=body.skill,
        handoff_id=body.template_id,
        outbound_number=body.outbound_number,
        consent=body.consent,
        message_text=body.message.text if body.message else None,
        consumers=body.consumers,
    )
    now = c.clock.now()
    async with c.db.write() as session:

        async def create() -> tuple[int, Any]:
            return 202, _accepted_payload(
                await service.create_campaign(session, me.account_id, request, now)
            )

        result = await idempotent(
            session,
            account_id=me.account_id,
            operation="campaign.create",
            key=idempotency_key,
            body=(
                body.model_dump(mode="json", by_alias=True, exclude_unset=True)
                if idempotency_key
                else None
            ),
            now=now,
            ttl=c.settings.idempotency_ttl,
            work=create,
        )
    c.notify_new_work()
    return JSONResponse(result.body, status_code=result.status)


@router.post(
    "/{campaignId}/consumers",
    operation_id="appendCampaignConsumers",
    status_code=202,
    response_model=CampaignAccepted,
)
async def append_consumers(
    accountId: AccountIdPath,
    campaignId: str,
    body: AppendConsumersIn,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
) -> JSONResponse:
    """Add consumers to a campaign that has not finished."""
    async with c.db.write() as session:
        result = await service.append_consumers(
            session, me.account_id, campaignId, body.consumers, c.clock.now()
        )
        payload = _accepted_payload(result)
    c.notify_new_work()
    return JSONResponse(payload, status_code=202)


@router.get("/{campaignId}", operation_id="getCampaign", response_model=CampaignOut)
async def get_campaign(
    accountId: AccountIdPath,
    campaignId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_READ, PROACTIVE)],
) -> CampaignOut:
    """The campaign's status and its recipients counted by delivery status."""
    async with c.db.read() as session:
        campaign = await service.get_campaign(session, me.account_id, campaignId)
        counts = await service.status_counts(session, campaign.id)
    return _campaign_out(campaign, counts)


@router.get(
    "/{campaignId}/conversations",
    operation_id="listCampaignRecipients",
    response_model=RecipientPage,
)
async def list_recipients(
    accountId: AccountIdPath,
    campaignId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_READ, PROACTIVE)],
    status: Annotated[str | None, Query(description="Only recipients in this status.")] = None,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecipientPage:
    """Every recipient of the campaign with its status, a page at a time."""
    async with c.db.read() as session:
        page, next_cursor = await service.list_recipients(
            session, me.account_id, campaignId, status=status, cursor=cursor, limit=limit
        )
    return RecipientPage(conversations=[_recipient_out(d) for d in page], next_cursor=next_cursor)


@router.post("/{campaignId}/cancel", operation_id="cancelCampaign", response_model=CampaignOut)
async def cancel_campaign(
    accountId: AccountIdPath,
    campaignId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
) -> CampaignOut:
    """Cancel: queued deliveries become CANCELLED; ones being sent right now finish."""
    async with c.db.write() as session:
        campaign = await service.cancel_campaign(session, me.account_id, campaignId, c.clock.now())
        counts = await service.status_counts(session, campaign.id)
    # Committed: the dispatcher drops what it claimed of this campaign but has not sent yet.
    c.notify_cancelled(campaign.id)
    return _campaign_out(campaign, counts)


@router.post("/{campaignId}/retry-failed", operation_id="retryFailedCampaignDeliveries")
async def retry_failed(
    accountId: AccountIdPath,
    campaignId: str,
    c: ContainerDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
) -> dict[str, int]:
    """Queue again the deliveries that failed for a reason that may pass now."""
    async with c.db.write() as session:
        requeued = await service.retry_failed(session, me.account_id, campaignId, c.clock.now())
    c.notify_new_work()
    return {"requeued": requeued}
