"""The reporting use cases: each report is one read-only unit of work, and a streamed report
(CSV) is read in chunks, each its own short read, so memory stays flat however many rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from parlay.lib.db.uow import Transactions
from parlay.reporting import service
from parlay.reporting.service import (
    AnalyticsRow,
    App,
    CampaignReport,
    Filters,
    Page,
    ReportRow,
    Window,
)

# Rows per read of a streamed report: big enough that a read's fixed cost is small, small
# enough that a chunk's memory is.
STREAM_CHUNK = 5000


async def analytics(
    tx: Transactions, account_id: str, app: App, window: Window, filters: Filters
) -> list[AnalyticsRow]:
    async with tx.read() as uow:
        return await service.analytics(uow.session, account_id, app, window, filters)


async def campaign_analytics(
    tx: Transactions, account_id: str, campaign_id: str
) -> list[AnalyticsRow]:
    async with tx.read() as uow:
        return await service.campaign_analytics(uow.session, account_id, campaign_id)


async def campaign_report(
    tx: Transactions, account_id: str, campaign_id: str, offset: int, limit: int
) -> CampaignReport:
    async with tx.read() as uow:
        return await service.campaign_report(uow.session, account_id, campaign_id, offset, limit)


async def campaign_recipients(
    tx: Transactions, account_id: str, campaign_id: str
) -> AsyncIterator[list[ReportRow]]:
    """Every current recipient of the campaign, a chunk at a time (404 before the first if the
    campaign is not the account's)."""
    async with tx.read() as uow:
        chunk = await service.campaign_recipients_after(
            uow.session, account_id, campaign_id, 0, STREAM_CHUNK
        )
    return _recipient_chunks(tx, account_id, campaign_id, chunk)


async def _recipient_chunks(
    tx: Transactions, account_id: str, campaign_id: str, chunk: list[ReportRow]
) -> AsyncIterator[list[ReportRow]]:
    while chunk:
        yield chunk
        if len(chunk) < STREAM_CHUNK:
            return
        async with tx.read() as uow:
            chunk = await service.campaign_recipients_after(
                uow.session, account_id, campaign_id, chunk[-1].id, STREAM_CHUNK
            )


async def transactions(
    tx: Transactions,
    account_id: str,
    app: App,
    window: Window,
    filters: Filters,
    offset: int,
    limit: int,
) -> tuple[Page, list[ReportRow]]:
    async with tx.read() as uow:
        return await service.transactions(
            uow.session, account_id, app, window, filters, offset, limit
        )


async def all_transactions(
    tx: Transactions, account_id: str, app: App, window: Window, filters: Filters
) -> AsyncIterator[list[ReportRow]]:
    """Every transaction of the window, a chunk at a time, in attempt order."""
    after: tuple[datetime, int] | None = None
    while True:
        async with tx.read() as uow:
            chunk = await service.transactions_after(
                uow.session, account_id, app, window, filters, after, STREAM_CHUNK
            )
        if chunk:
            yield chunk
        if len(chunk) < STREAM_CHUNK:
            return
        after = service.resume_after(chunk[-1])
