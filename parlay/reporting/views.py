"""Report rows in their wire names, one definition for JSON and CSV alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from parlay.delivery.counts import PROVIDER_FAILURES
from parlay.delivery.status import ErrorCode
from parlay.reporting.service import AnalyticsRow, ReportRow

ANALYTICS_FIELDS = (
    "channel",
    "skill",
    "transactionday",
    "attempted",
    "eligible",
    "skipped",
    "sent",
    "failed",
    "delivered",
    "read",
    "conversationscreated",
    "conversationsclosed",
    "csat",
)


def analytics_row(r: AnalyticsRow) -> dict[str, Any]:
    return {
        "channel": r.channel,
        "skill": r.skill,
        "transactionday": r.day.strftime("%m-%d-%Y"),
        "attempted": r.count("attempted"),
        "eligible": r.count("eligible"),
        "skipped": r.count("skipped"),
        "sent": r.count("sent"),
        "failed": r.count("failed"),
        "delivered": r.count("delivered"),
        "read": r.count("read"),
        "conversationscreated": r.count("conversations_created"),
        "conversationsclosed": r.count("conversations_closed"),
        "csat": r.csat,
        "failureReasons": {code: n for code, n in sorted(r.reasons.items()) if n},
    }


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    # Stored in UTC: the zone's suffix is always Z (strftime is 3x slower than this).
    return at.isoformat(timespec="milliseconds")[:23] + "Z"


def consumer_values(d: ReportRow) -> tuple[Any, ...]:
    """A recipient's values in the order of ``CONSUMER_FIELDS``; ``d`` holds the columns of
    ``service.RECIPIENT_COLUMNS``, in that order."""
    delivery_id, consumer_id, phone, status, source, code, message, conversation_id = d
    return (str(delivery_id), consumer_id or phone, status, source, code, message, conversation_id)


def consumer_row(d: ReportRow) -> dict[str, Any]:
    return dict(zip(CONSUMER_FIELDS, consumer_values(d), strict=True))


CONSUMER_FIELDS = (
    "id",
    "consumerId",
    "status",
    "errorSource",
    "errorCode",
    "errorMessage",
    "conversationId",
)
TRANSACTION_FIELDS = (
    "transactionId",
    "channel",
    "skill",
    "initialChannel",
    "initialSkill",
    "proactiveCampaignId",
    "handOffId",
    "ivrNumber",
    "consumerId",
    "conversationId",
    "status",
    "attemptedTime",
    "eligibleTime",
    "inviteTime",
    "sentTime",
    "deliveredTime",
    "readTime",
    "failedTime",
    "skippedTime",
    "cancelledTime",
    "optInsTime",
    "optOutsTime",
    "conversationsCreatedTime",
    "conversationsClosedTime",
    "errorCode",
    "errorMessage",
    "errorSource",
)


def transaction_values(d: ReportRow) -> tuple[Any, ...]:
    """One transaction's values in the order of ``TRANSACTION_FIELDS`` (the CSV's columns).

    ``d`` holds the columns of ``service.TRANSACTION_COLUMNS``, in that order: unpacked by
    position, which costs a fifth of reading a result row's attributes by name (the CSV export
    spends most of its time here)."""
    (
        delivery_id,
        channel,
        skill,
        campaign_id,
        handoff_id,
        consumer_id,
        phone,
        conversation_id,
        status,
        attempted,
        sent,
        delivered,
        read,
        failed,
        expired,
        skipped,
        cancelled,
        created,
        closed,
        code,
        message,
        source,
        ivr_number,
    ) = d
    provider_failure = status == "FAILED" and code in PROVIDER_FAILURES
    opted_out = status == "SKIPPED" and code == ErrorCode.OPTED_OUT
    sent_at = _iso(sent)
    skipped_at = _iso(skipped)
    return (
        str(delivery_id),
        channel,
        skill,
        channel,
        skill,
        campaign_id,
        handoff_id or None,
        ivr_number,
        consumer_id or phone,
        conversation_id,
        status,
        _iso(attempted),
        sent_at or (_iso(failed) if provider_failure else None),
        sent_at,
        sent_at,
        _iso(delivered),
        _iso(read),
        _iso(failed or expired),
        skipped_at,
        _iso(cancelled),
        None,
        skipped_at if opted_out else None,
        _iso(created),
        _iso(closed),
        code,
        message,
        source,
    )


def transaction_row(d: ReportRow) -> dict[str, Any]:
    return dict(zip(TRANSACTION_FIELDS, transaction_values(d), strict=True))
