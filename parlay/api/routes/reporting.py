"""HTTP routes of the Reporting API, at ``/api/account/{accountId}/app/...`` and at LivePerson's
older ``/account/{accountId}/app/...`` (the same handlers; the older paths are left out of the
OpenAPI document)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.params import AccountIdPath, CampaignIdPath
from parlay.api.schemas.reporting import (
    AnalyticsOut,
    CampaignReportOut,
    ReportQueryIn,
    TransactionsOut,
)
from parlay.api.strict_json import api_router
from parlay.lib.ratelimit import ApiFamily
from parlay.reporting import usecases
from parlay.reporting.service import AnalyticsRow, App, Filters, Page, Window
from parlay.reporting.views import (
    CONSUMER_FIELDS,
    TRANSACTION_FIELDS,
    analytics_row,
    consumer_row,
    consumer_values,
    transaction_row,
    transaction_values,
)

REPORTING = ApiFamily.REPORTING
Reader = Annotated[Principal, require(Permission.REPORTING, REPORTING)]
MAX_EPOCH_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
StartTime = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_EPOCH_MS,
        description="Epoch milliseconds: deliveries attempted at or after this time.",
    ),
]
EndTime = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_EPOCH_MS,
        description="Epoch milliseconds: deliveries attempted before this time; the window is "
        "at most 60 days.",
    ),
]
AppPath = Annotated[App, Path(description="prmsg (campaign deliveries) or c2m (IVR invites).")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")]
Limit = Annotated[int, Query(ge=1, le=9999, description="Rows per page, 1-9,999.")]
Format = Annotated[
    Literal["json", "csv"],
    Query(description="csv: every row of the report, streamed (offset and limit ignored)."),
]


def _filters(body: ReportQueryIn | None) -> Filters:
    if body is None:
        return Filters()
    channels, skills = body.channels, body.skills
    if body.filters is not None:
        channels = body.filters.channels if body.filters.channels is not None else channels
        skills = body.filters.skills if body.filters.skills is not None else skills
    return Filters(
        frozenset(channels) if channels is not None else None,
        frozenset(skills) if skills is not None else None,
    )


def _metadata(
    account_id: str,
    app: str,
    start: int | None = None,
    end: int | None = None,
    filters: Filters | None = None,
    campaign_id: str | None = None,
) -> dict[str, Any]:
    return {
        "accountId": account_id,
        "app": app,
        "attemptedStartTime": start,
        "attemptedEndTime": end,
        "proactiveCampaignId": campaign_id,
        "filters": None
        if filters is None
        else {
            "channels": sorted(filters.channels) if filters.channels is not None else None,
            "skills": sorted(filters.skills) if filters.skills is not None else None,
        },
    }


def _page(page: Page) -> dict[str, int]:
    return {
        "count": page.count,
        "previousOffset": page.previous_offset,
        "currentOffset": page.offset,
        "nextOffset": page.next_offset,
    }


def _analytics(metadata: dict[str, Any], rows: Sequence[AnalyticsRow]) -> AnalyticsOut:
    return AnalyticsOut.model_validate(
        {"requestMetadata": metadata, "analytics": [analytics_row(r) for r in rows]}
    )


async def _csv(
    fields: Sequence[str], chunks: AsyncIterator[Iterable[Sequence[Any]]]
) -> AsyncIterator[str]:
    """CSV text, one chunk of rows (values in the order of ``fields``) at a time, the header
    first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields)
    yield out.getvalue()
    async for chunk in chunks:
        out.seek(0)
        out.truncate()
        writer.writerows(chunk)
        yield out.getvalue()


def _csv_response(name: str, body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _routes(prefix: str, in_schema: bool, suffix: str) -> APIRouter:
    router = api_router(prefix=prefix, tags=["reporting"], include_in_schema=in_schema)

    async def analytics(
        accountId: str,
        app: App,
        s: Any,
        me: Principal,
        start: int | None,
        end: int | None,
        body: ReportQueryIn | None,
    ) -> AnalyticsOut:
        window, filters = Window.of(start, end), _filters(body)
        rows = await usecases.analytics(s.tx, me.account_id, app, window, filters)
        return _analytics(_metadata(me.account_id, app.value, start, end, filters), rows)

    @router.get(
        "/{app}/analytics", operation_id=f"getAnalytics{suffix}", response_model=AnalyticsOut
    )
    async def get_analytics(
        accountId: AccountIdPath,
        app: AppPath,
        s: ServicesDep,
        me: Reader,
        attemptedStartTime: StartTime = None,
        attemptedEndTime: EndTime = None,
    ) -> AnalyticsOut:
        """The funnel per day (in the account's time zone) × channel × skill of the deliveries
        attempted in the window: campaigns (``prmsg``) or IVR invites (``c2m``)."""
        return await analytics(accountId, app, s, me, attemptedStartTime, attemptedEndTime, None)

    @router.post(
        "/{app}/analytics", operation_id=f"queryAnalytics{suffix}", response_model=AnalyticsOut
    )
    async def post_analytics(
        accountId: AccountIdPath,
        app: AppPath,
        s: ServicesDep,
        me: Reader,
        body: ReportQueryIn,
        attemptedStartTime: StartTime = None,
        attemptedEndTime: EndTime = None,
    ) -> AnalyticsOut:
        """The funnel, only of the channels and skills the body's ``filters`` name."""
        return await analytics(accountId, app, s, me, attemptedStartTime, attemptedEndTime, body)

    @router.get(
        "/prmsg/campaigns/{campaignId}",
        operation_id=f"getCampaignReport{suffix}",
        response_model=CampaignReportOut,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def campaign_report(
        accountId: AccountIdPath,
        campaignId: CampaignIdPath,
        s: ServicesDep,
        me: Reader,
        offset: Offset = 0,
        limit: Limit = 100,
        format: Format = "json",
    ) -> Any:
        """The campaign's recipients with their status, a page at a time (or every one as
        CSV). A retried recipient appears as its latest attempt."""
        if format == "csv":
            chunks = await usecases.campaign_recipients(s.tx, me.account_id, campaignId)
            rows = _mapped(chunks, consumer_values)
            return _csv_response(f"campaign-{campaignId}", _csv(CONSUMER_FIELDS, rows))
        report = await usecases.campaign_report(s.tx, me.account_id, campaignId, offset, limit)
        return CampaignReportOut.model_validate(
            {
                "requestMetadata": _metadata(me.account_id, "prmsg", campaign_id=campaignId),
                "page": _page(report.page),
                "consumersReport": [consumer_row(d) for d in report.recipients],
            }
        )

    @router.get(
        "/prmsg/campaigns/{campaignId}/analytics",
        operation_id=f"getCampaignAnalytics{suffix}",
        response_model=AnalyticsOut,
    )
    async def campaign_analytics(
        accountId: AccountIdPath, campaignId: CampaignIdPath, s: ServicesDep, me: Reader
    ) -> AnalyticsOut:
        """The campaign's funnel per day × channel × skill."""
        rows = await usecases.campaign_analytics(s.tx, me.account_id, campaignId)
        return _analytics(_metadata(me.account_id, "prmsg", campaign_id=campaignId), rows)

    async def transactions(
        s: Any,
        me: Principal,
        app: AppPath,
        start: int | None,
        end: int | None,
        offset: int,
        limit: int,
        format: str,
        body: ReportQueryIn | None,
    ) -> Any:
        window, filters = Window.of(start, end), _filters(body)
        if format == "csv":
            chunks = usecases.all_transactions(s.tx, me.account_id, app, window, filters)
            rows = _mapped(chunks, transaction_values)
            return _csv_response(f"transactions-{app.value}", _csv(TRANSACTION_FIELDS, rows))
        page, found = await usecases.transactions(
            s.tx, me.account_id, app, window, filters, offset, limit
        )
        return TransactionsOut.model_validate(
            {
                "requestMetadata": _metadata(me.account_id, app.value, start, end, filters),
                "page": _page(page),
                "transactions": [transaction_row(t) for t in found],
            }
        )

    @router.get(
        "/{app}/transactions",
        operation_id=f"getTransactions{suffix}",
        response_model=TransactionsOut,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def get_transactions(
        accountId: AccountIdPath,
        app: AppPath,
        s: ServicesDep,
        me: Reader,
        attemptedStartTime: StartTime = None,
        attemptedEndTime: EndTime = None,
        offset: Offset = 0,
        limit: Limit = 100,
        format: Format = "json",
    ) -> Any:
        """Every delivery attempted in the window with each stage's time, a page at a time (or
        every one as CSV)."""
        return await transactions(
            s, me, app, attemptedStartTime, attemptedEndTime, offset, limit, format, None
        )

    @router.post(
        "/{app}/transactions",
        operation_id=f"queryTransactions{suffix}",
        response_model=TransactionsOut,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def post_transactions(
        accountId: AccountIdPath,
        app: AppPath,
        s: ServicesDep,
        me: Reader,
        body: ReportQueryIn,
        attemptedStartTime: StartTime = None,
        attemptedEndTime: EndTime = None,
        offset: Offset = 0,
        limit: Limit = 100,
        format: Format = "json",
    ) -> Any:
        """The transactions, only of the channels and skills the body names."""
        return await transactions(
            s, me, app, attemptedStartTime, attemptedEndTime, offset, limit, format, body
        )

    return router


async def _mapped(chunks: AsyncIterator[Sequence[Any]], row: Any) -> AsyncIterator[list[Any]]:
    async for chunk in chunks:
        yield [row(item) for item in chunk]


router = _routes("/api/account/{accountId}/app", True, "")
legacy_router = _routes("/account/{accountId}/app", False, "Legacy")
