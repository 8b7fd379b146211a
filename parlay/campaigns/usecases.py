"""The campaign use cases, one unit of work each. The JSON API and the web pages call these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parlay.campaigns import service
from parlay.campaigns.intake import ConsumerEntry
from parlay.campaigns.models import Campaign
from parlay.campaigns.service import Accepted, CampaignRequest
from parlay.delivery.models import Delivery
from parlay.delivery.queue import WorkQueued
from parlay.lib.db.uow import Transactions
from parlay.lib.idempotency.service import Repeat, StoredResponse

Answer = Callable[[Accepted], tuple[int, Any]]


@dataclass(frozen=True)
class CampaignCancelled:
    """A signal: a campaign was cancelled. Dispatchers drop what they claimed of it at once."""

    campaign_id: str


@dataclass(frozen=True)
class CampaignState:
    """A campaign and its recipients counted by delivery status."""

    campaign: Campaign
    counts: dict[str, int]


@dataclass(frozen=True)
class RecipientPage:
    campaign_status: str
    recipients: Sequence[Delivery]
    next_cursor: str | None


async def create_campaign(
    tx: Transactions,
    account_id: str,
    request: CampaignRequest,
    *,
    repeat: Repeat | None,
    answer: Answer,
) -> StoredResponse:
    """Accept a campaign and queue its deliveries; ``answer`` renders the response a repeat of
    the same ``Idempotency-Key`` gets back."""
    async with tx.write() as uow:

        async def create() -> tuple[int, Any]:
            return answer(await service.create_campaign(uow.session, account_id, request, uow.now))

        response = await uow.idempotent(
            account_id=account_id, operation="campaign.create", repeat=repeat, work=create
        )
        uow.emit(WorkQueued())
    return response


async def append_consumers(
    tx: Transactions,
    account_id: str,
    campaign_id: str,
    consumers: Sequence[ConsumerEntry],
    *,
    list_accepted: bool = True,
) -> Accepted:
    async with tx.write() as uow:
        accepted = await service.append_consumers(
            uow.session, account_id, campaign_id, consumers, uow.now, list_accepted=list_accepted
        )
        uow.emit(WorkQueued())
    return accepted


async def campaign_state(tx: Transactions, account_id: str, campaign_id: str) -> CampaignState:
    async with tx.read() as uow:
        campaign = await service.get_campaign(uow.session, account_id, campaign_id)
        return CampaignState(campaign, await service.status_counts(uow.session, campaign.id))


async def recipients(
    tx: Transactions,
    account_id: str,
    campaign_id: str,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> RecipientPage:
    async with tx.read() as uow:
        campaign, page, next_cursor = await service.list_recipients(
            uow.session, account_id, campaign_id, status=status, cursor=cursor, limit=limit
        )
    return RecipientPage(campaign.status, page, next_cursor)


@dataclass(frozen=True)
class CampaignListing:
    campaigns: Sequence[Campaign]
    next_cursor: str | None


async def list_campaigns(
    tx: Transactions,
    account_id: str,
    *,
    status: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    cursor: str | None,
    limit: int,
) -> CampaignListing:
    async with tx.read() as uow:
        page, next_cursor = await service.list_campaigns(
            uow.session,
            account_id,
            status=status,
            created_after=created_after,
            created_before=created_before,
            cursor=cursor,
            limit=limit,
        )
    return CampaignListing(page, next_cursor)


@dataclass(frozen=True)
class CampaignOverview:
    """A page of campaigns, each with its recipients counted by delivery status."""

    campaigns: Sequence[CampaignState]
    next_cursor: str | None


async def campaign_overview(
    tx: Transactions, account_id: str, *, cursor: str | None, limit: int
) -> CampaignOverview:
    """The account's campaigns, newest first, with their counts read in the same snapshot."""
    async with tx.read() as uow:
        page, next_cursor = await service.list_campaigns(
            uow.session,
            account_id,
            status=None,
            created_after=None,
            created_before=None,
            cursor=cursor,
            limit=limit,
        )
        counts = await service.status_counts_of(uow.session, [c.id for c in page])
    return CampaignOverview([CampaignState(c, counts[c.id]) for c in page], next_cursor)


async def cancel_campaign(tx: Transactions, account_id: str, campaign_id: str) -> CampaignState:
    async with tx.write() as uow:
        campaign = await service.cancel_campaign(uow.session, account_id, campaign_id, uow.now)
        counts = await service.status_counts(uow.session, campaign.id)
        uow.emit(CampaignCancelled(campaign.id))
    return CampaignState(campaign, counts)


async def retry_failed(tx: Transactions, account_id: str, campaign_id: str) -> int:
    async with tx.write() as uow:
        requeued = await service.retry_failed(uow.session, account_id, campaign_id, uow.now)
        uow.emit(WorkQueued())
    return requeued
