"""HTTP routes of the Proactive API: campaigns and their recipients."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath, CampaignIdPath, IdempotencyKeyHeader, PreferHeader
from parlay.api.schemas.outbound import (
    AppendConsumersIn,
    CampaignAccepted,
    CampaignIn,
    CampaignListOut,
    CampaignOut,
    CampaignSummaryOut,
    RecipientOut,
    RecipientPage,
    RetryFailedOut,
)
from parlay.api.strict_json import api_router
from parlay.campaigns import usecases
from parlay.campaigns.intake import FailedConsumer
from parlay.campaigns.models import Campaign
from parlay.campaigns.service import Accepted, CampaignRequest
from parlay.delivery.models import Delivery
from parlay.delivery.status import LIVEPERSON_STATUS, DeliveryStatus
from parlay.lib.errors import invalid_field
from parlay.lib.idempotency.service import Repeat
from parlay.lib.ratelimit import ApiFamily

router = api_router(prefix="/api/v2/account/{accountId}/campaign", tags=["proactive"])
PROACTIVE = ApiFamily.PROACTIVE


def _failed(f: FailedConsumer) -> dict[str, Any]:
    failed: dict[str, Any] = {
        "consumerContent": f.consumer_content,
        "variables": f.variables,
        "errorMessage": f.error_message,
    }
    if f.header_variables is not None:
        failed["headerVariables"] = f.header_variables
    if f.phone is not None:  # the legacy form, echoed as LivePerson does
        failed["phone"] = f.phone
        failed["countryCode"] = f.country_code
    return failed


def _accepted_payload(result: Accepted) -> dict[str, Any]:
    """LivePerson's answer: ``leCampaignId`` is the campaign's own ID and ``leEngagementId`` the
    ID of the skill its replies are routed to (Parlay has no separate engagement objects)."""
    payload: dict[str, Any] = {
        "proactiveCampaignId": result.campaign.id,
        "leCampaignId": result.campaign.id,
        "leEngagementId": str(result.skill_id) if result.skill_id is not None else "",
    }
    if result.accepted_consumers is not None and result.delivery_ids is not None:
        payload["acceptedConsumers"] = [
            {"id": str(i), "phoneNumber": phone, "consumerContent": content}
            for i, (phone, content) in zip(
                result.delivery_ids, result.accepted_consumers, strict=True
            )
        ]
    payload["acceptedCount"] = result.accepted
    payload["failedConsumers"] = [_failed(f) for f in result.failed]
    payload["requestTraceId"] = result.campaign.request_trace_id
    return payload


def _minimal(prefer: str | None) -> bool:
    """``Prefer: return=minimal`` (RFC 7240): the caller wants the count, not the list."""
    if not prefer:
        return False
    return any(p.strip().lower() == "return=minimal" for p in prefer.replace(";", ",").split(","))


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
        status=LIVEPERSON_STATUS[DeliveryStatus(d.status)],
        delivery_status=d.status,
        error_code=d.error_code,
        error_message=d.error_message,
        error_source=d.error_source,
        conversation_id=d.conversation_id,
    )


@router.post(
    "",
    operation_id="createCampaign",
    status_code=200,
    response_model=CampaignAccepted,
)
async def create_campaign(
    accountId: AccountIdPath,
    body: CampaignIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
    idempotency_key: IdempotencyKeyHeader = None,
    prefer: PreferHeader = None,
) -> JSONResponse:
    """Send one message to 1-100,000 consumers. Per-consumer problems are reported in
    ``failedConsumers`` and do not fail the request. ``Prefer: return=minimal`` leaves the
    ``acceptedConsumers`` list out (``acceptedCount`` stays)."""
    windows = body.scheduling_metrics.windows if body.scheduling_metrics else []
    request = CampaignRequest(
        name=body.campaign_name,
        skill=body.skill,
        handoff_id=body.template_id,
        outbound_number=body.outbound_number,
        consent=body.consent,
        message_text=body.message.text if body.message else None,
        consumers=body.consumers,
        send_windows=[
            (w.day, w.start_time.hour, w.start_time.minute, w.end_time.hour, w.end_time.minute)
            for w in windows
        ],
        list_accepted=not _minimal(prefer),
    )
    repeat = None
    if idempotency_key is not None:
        repeat = Repeat(
            idempotency_key, body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        )
    result = await usecases.create_campaign(
        s.tx,
        me.account_id,
        request,
        repeat=repeat,
        answer=lambda accepted: (200, _accepted_payload(accepted)),
    )
    return JSONResponse(result.body, status_code=result.status)


@router.post(
    "/{campaignId}/consumers",
    operation_id="appendCampaignConsumers",
    responses=problems(409),
    status_code=200,
    response_model=CampaignAccepted,
)
async def append_consumers(
    accountId: AccountIdPath,
    campaignId: CampaignIdPath,
    body: AppendConsumersIn,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
    prefer: PreferHeader = None,
) -> JSONResponse:
    """Add consumers to a campaign that has not finished (answered as a create is)."""
    result = await usecases.append_consumers(
        s.tx, me.account_id, campaignId, body.consumers, list_accepted=not _minimal(prefer)
    )
    return JSONResponse(_accepted_payload(result), status_code=200)


def _query_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 query time in UTC; one written without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise invalid_field(name, "an ISO 8601 date or time, e.g. 2026-11-29T12:00:00Z") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@router.get("", operation_id="listCampaigns", response_model=CampaignListOut)
async def list_campaigns(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_READ, PROACTIVE)],
    status: Annotated[
        str | None,
        Query(max_length=32, description="Only campaigns in this status (ACCEPTED, ...)."),
    ] = None,
    created_after: Annotated[
        str | None,
        Query(
            max_length=40,
            alias="createdAfter",
            description="Only campaigns created at or after this time (ISO 8601; no zone: UTC).",
        ),
    ] = None,
    created_before: Annotated[
        str | None,
        Query(
            max_length=40,
            alias="createdBefore",
            description="Only campaigns created before this time (ISO 8601; no zone: UTC).",
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="nextCursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Campaigns per page.")] = 100,
) -> CampaignListOut:
    """The account's campaigns, newest first, a page at a time (100 unless ``limit`` says)."""
    listing = await usecases.list_campaigns(
        s.tx,
        me.account_id,
        status=status,
        created_after=_query_time("createdAfter", created_after),
        created_before=_query_time("createdBefore", created_before),
        cursor=cursor,
        limit=limit,
    )
    return CampaignListOut(
        campaigns=[
            CampaignSummaryOut(
                proactive_campaign_id=c.id,
                campaign_name=c.name,
                campaign_status=c.status,
                skill=c.skill,
                template_id=c.handoff_id,
                accepted_consumers=c.accepted_consumers,
                failed_consumers=c.failed_consumers,
                created_at=c.created_at,
                finished_at=c.finished_at,
            )
            for c in listing.campaigns
        ],
        next_cursor=listing.next_cursor,
    )


@router.get("/{campaignId}", operation_id="getCampaign", response_model=CampaignOut)
async def get_campaign(
    accountId: AccountIdPath,
    campaignId: CampaignIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_READ, PROACTIVE)],
) -> CampaignOut:
    """The campaign's status and its recipients counted by delivery status."""
    state = await usecases.campaign_state(s.tx, me.account_id, campaignId)
    return _campaign_out(state.campaign, state.counts)


@router.get(
    "/{campaignId}/conversations",
    operation_id="listCampaignRecipients",
    response_model=RecipientPage,
)
async def list_recipients(
    accountId: AccountIdPath,
    campaignId: CampaignIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_READ, PROACTIVE)],
    status: Annotated[
        str | None, Query(max_length=32, description="Only recipients in this status.")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="nextCursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Recipients per page.")] = 1000,
) -> RecipientPage:
    """Every recipient of the campaign with its status, a page at a time (1,000 unless
    ``limit`` says fewer), and the campaign's status: FINISHED once every delivery is final."""
    page = await usecases.recipients(
        s.tx, me.account_id, campaignId, status=status, cursor=cursor, limit=limit
    )
    return RecipientPage(
        campaign_status=page.campaign_status,
        conversations=[_recipient_out(d) for d in page.recipients],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/{campaignId}/cancel",
    operation_id="cancelCampaign",
    responses=problems(409),
    response_model=CampaignOut,
)
async def cancel_campaign(
    accountId: AccountIdPath,
    campaignId: CampaignIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
) -> CampaignOut:
    """Cancel: queued deliveries become CANCELLED; ones being sent right now finish."""
    state = await usecases.cancel_campaign(s.tx, me.account_id, campaignId)
    return _campaign_out(state.campaign, state.counts)


@router.post(
    "/{campaignId}/retry-failed",
    operation_id="retryFailedCampaignDeliveries",
    responses=problems(409),
)
async def retry_failed(
    accountId: AccountIdPath,
    campaignId: CampaignIdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.CAMPAIGNS_WRITE, PROACTIVE)],
) -> RetryFailedOut:
    """Queue again the deliveries that failed for a reason that may pass now."""
    return RetryFailedOut(requeued=await usecases.retry_failed(s.tx, me.account_id, campaignId))
