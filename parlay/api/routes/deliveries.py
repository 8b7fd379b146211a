"""HTTP route reading one delivery back by its ID, with every stage time."""

from __future__ import annotations

from typing import Annotated

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.params import AccountIdPath, IdPath
from parlay.api.schemas.outbound import DeliveryOut
from parlay.api.strict_json import api_router
from parlay.delivery import usecases
from parlay.delivery.models import Delivery
from parlay.lib.ratelimit import ApiFamily

router = api_router(prefix="/api/account/{accountId}/deliveries", tags=["deliveries"])


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        delivery_id=str(d.id),
        source=d.source,
        channel=d.channel,
        status=d.status,
        proactive_campaign_id=d.campaign_id,
        call_id=d.call_id,
        hand_off_id=d.handoff_id,
        skill=d.skill,
        consumer_id=d.consumer_id,
        consumer_phone_number=d.phone,
        conversation_id=d.conversation_id,
        error_code=d.error_code,
        error_message=d.error_message,
        error_source=d.error_source,
        provider_message_id=d.provider_message_id,
        superseded_by=str(d.superseded_by) if d.superseded_by is not None else None,
        attempts=d.attempts,
        attempted_time=d.attempted_time,
        scheduled_time=d.scheduled_time,
        sent_time=d.sent_time,
        delivered_time=d.delivered_time,
        read_time=d.read_time,
        failed_time=d.failed_time,
        skipped_time=d.skipped_time,
        expired_time=d.expired_time,
        cancelled_time=d.cancelled_time,
        conversation_created_time=d.conversation_created_time,
        conversation_closed_time=d.conversation_closed_time,
    )


# Permission: reporting. Every delivery of every source (campaign, invite, agent's push) is
# already readable with its stage times through the reporting transactions, so this route
# widens no one's reach; a campaign's recipients (campaigns:read) and an invite (c2m) have
# read-backs of their own.
@router.get("/{deliveryId}", operation_id="getDelivery", response_model=DeliveryOut)
async def get_delivery(
    accountId: AccountIdPath,
    deliveryId: IdPath,
    s: ServicesDep,
    me: Annotated[Principal, require(Permission.REPORTING, ApiFamily.REPORTING)],
) -> DeliveryOut:
    """One delivery of the account with its status, error and every stage time."""
    return delivery_out(await usecases.get_delivery(s.tx, me.account_id, deliveryId))
