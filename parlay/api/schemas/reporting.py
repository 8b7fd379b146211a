"""Shapes of the Reporting API: LivePerson's Outbound Reporting field names (``transactionday``,
``conversationscreated``...), so a dashboard or ETL job written for it reads Parlay unchanged."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from parlay.api.schemas.base import RequestModel, ResponseModel

FilterValue = Annotated[str, Field(min_length=1, max_length=255)]


class FiltersIn(RequestModel):
    channels: list[FilterValue] | None = Field(
        default=None, max_length=20, description="Only these channels (inapp, sms, wa)."
    )
    skills: list[FilterValue] | None = Field(
        default=None, max_length=500, description="Only these skills."
    )


class ReportQueryIn(RequestModel):
    """``{"filters": {"channels": [...], "skills": [...]}}``; the transactions report also takes
    ``channels`` and ``skills`` at the top level, as LivePerson's does."""

    filters: FiltersIn | None = None
    channels: list[FilterValue] | None = Field(default=None, max_length=20)
    skills: list[FilterValue] | None = Field(default=None, max_length=500)


class _Lower(ResponseModel):
    """LivePerson's analytics fields are all lower case (``conversationscreated``)."""

    model_config = ConfigDict(alias_generator=None, serialize_by_alias=False)


class AnalyticsRowOut(_Lower):
    channel: str
    skill: str
    transactionday: str = Field(description='The day in the account\'s time zone, "MM-DD-YYYY".')
    attempted: int
    eligible: int = Field(description="Passed Parlay's checks and handed to a provider.")
    skipped: int
    sent: int
    failed: int = Field(description="Failed or expired.")
    delivered: int
    read: int
    conversationscreated: int
    conversationsclosed: int
    csat: float | None = Field(description="Average 1-5 rating; null when none.")
    failureReasons: dict[str, int] = Field(
        description="Failed, skipped, expired and cancelled deliveries by errorCode."
    )


class FiltersOut(ResponseModel):
    channels: list[str] | None
    skills: list[str] | None


class RequestMetadata(ResponseModel):
    account_id: str
    app: str
    attempted_start_time: int | None = None
    attempted_end_time: int | None = None
    proactive_campaign_id: str | None = None
    filters: FiltersOut | None = None


class AnalyticsOut(ResponseModel):
    request_metadata: RequestMetadata
    analytics: list[AnalyticsRowOut]


class PageOut(ResponseModel):
    count: int = Field(description="Rows in the whole report.")
    previous_offset: int = Field(description="-1 on the first page.")
    current_offset: int
    next_offset: int = Field(description="-1 on the last page.")


class ConsumerReportOut(ResponseModel):
    id: str
    consumer_id: str | None = Field(description="The consumer ID, or the phone number.")
    status: str
    error_source: str | None
    error_code: str | None
    error_message: str | None
    conversation_id: str | None


class CampaignReportOut(ResponseModel):
    request_metadata: RequestMetadata
    page: PageOut
    consumers_report: list[ConsumerReportOut]


class TransactionOut(ResponseModel):
    """One delivery; times are ISO 8601 UTC, null for a stage not reached."""

    transaction_id: str
    channel: str
    skill: str
    initial_channel: str
    initial_skill: str
    proactive_campaign_id: str | None
    hand_off_id: str | None
    ivr_number: str | None
    consumer_id: str | None
    conversation_id: str | None
    status: str
    attempted_time: str
    eligible_time: str | None
    invite_time: str | None
    sent_time: str | None
    delivered_time: str | None
    read_time: str | None
    failed_time: str | None
    skipped_time: str | None
    cancelled_time: str | None
    opt_ins_time: str | None
    opt_outs_time: str | None
    conversations_created_time: str | None
    conversations_closed_time: str | None
    error_code: str | None
    error_message: str | None
    error_source: str | None


class TransactionsOut(ResponseModel):
    request_metadata: RequestMetadata
    page: PageOut
    transactions: list[TransactionOut]
