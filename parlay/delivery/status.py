"""A delivery's status: the furthest stage it reached. Status only moves forward, each stage keeps
its time, and a failure ends only what was never sent.

This module states the rules; ``parlay.delivery.lifecycle`` is the one place that applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class DeliveryStatus(StrEnum):
    QUEUED = "QUEUED"
    SCHEDULED = "SCHEDULED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    REPLIED = "REPLIED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


S = DeliveryStatus
# Waiting to be sent, in the order the partial queue indexes name them (see ``PENDING_SQL``).
PENDING: tuple[DeliveryStatus, ...] = (S.QUEUED, S.SCHEDULED)
# The progress chain; a status may only be replaced by one further along it.
PROGRESS = (S.QUEUED, S.SCHEDULED, S.SENT, S.DELIVERED, S.READ, S.REPLIED)
# Terminal without progress: nothing may follow them.
TERMINAL_FAILURES = frozenset({S.FAILED, S.SKIPPED, S.EXPIRED, S.CANCELLED})

# Every move a status may make. A failure ends only a delivery still waiting to be sent; a
# receipt may overtake the dispatcher's own record of the send (QUEUED → DELIVERED).
TRANSITIONS: Mapping[DeliveryStatus, frozenset[DeliveryStatus]] = {
    S.QUEUED: frozenset({S.SCHEDULED, S.SENT, S.DELIVERED, S.READ, S.REPLIED, *TERMINAL_FAILURES}),
    S.SCHEDULED: frozenset({S.SENT, S.DELIVERED, S.READ, S.REPLIED, *TERMINAL_FAILURES}),
    S.SENT: frozenset({S.DELIVERED, S.READ, S.REPLIED}),
    S.DELIVERED: frozenset({S.READ, S.REPLIED}),
    S.READ: frozenset({S.REPLIED}),
    S.REPLIED: frozenset(),
    S.FAILED: frozenset(),
    S.SKIPPED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
}

# The one exception to "a failure ends only what was never sent": the provider's own report that
# a message it accepted never reached the handset (Twilio ``undelivered``/``failed``, WhatsApp
# ``failed``) ends it as FAILED, until a delivery report says otherwise. Only the provider's
# status webhooks make this move (``lifecycle.record_provider_status``); nothing else does.
PROVIDER_FAILED_FROM: tuple[DeliveryStatus, ...] = (S.QUEUED, S.SCHEDULED, S.SENT)

# The time column each status stamps when reached.
STAGE_TIME = {
    S.SCHEDULED: "scheduled_time",
    S.SENT: "sent_time",
    S.DELIVERED: "delivered_time",
    S.READ: "read_time",
    S.REPLIED: "conversation_created_time",
    S.FAILED: "failed_time",
    S.SKIPPED: "skipped_time",
    S.EXPIRED: "expired_time",
    S.CANCELLED: "cancelled_time",
}


def can_move(current: DeliveryStatus, new: DeliveryStatus) -> bool:
    """Whether ``current`` may become ``new``."""
    return new in TRANSITIONS[current]


def statuses_before(new: DeliveryStatus) -> list[str]:
    """The statuses from which ``new`` may be reached (for guarded SQL updates)."""
    return [s.value for s in DeliveryStatus if can_move(s, new)]


def _sql_in(statuses: tuple[DeliveryStatus, ...]) -> str:
    return "status IN (" + ", ".join(f"'{s.value}'" for s in statuses) + ")"


# "status IN ('QUEUED', 'SCHEDULED')", written into SQL rather than bound: SQLite uses a partial
# index only when a query repeats its predicate with the same literals in the same order
# (PostgreSQL's generic plans of prepared statements likewise). With a bound IN list every claim
# scanned and sorted the whole table (45 ms per claim at 100,000 queued, against 3 ms).
PENDING_SQL = _sql_in(PENDING)


class ErrorCode(StrEnum):
    """Stable per-delivery failure codes."""

    NEVER_LOGGED_IN = "NEVER_LOGGED_IN"
    NO_PUSH_TOKEN = "NO_PUSH_TOKEN"
    LOGGED_OUT_PUSH_DISABLED = "LOGGED_OUT_PUSH_DISABLED"
    LOGGED_IN_PUSH_DISABLED = "LOGGED_IN_PUSH_DISABLED"
    OPEN_CONVERSATION = "OPEN_CONVERSATION"
    EXPIRED = "EXPIRED"
    OPTED_OUT = "OPTED_OUT"
    INVALID_NUMBER = "INVALID_NUMBER"
    TOKEN_UNREGISTERED = "TOKEN_UNREGISTERED"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    CANCELLED = "CANCELLED"
    # An agent's or bot's push not sent: every device that takes it holds a live stream, where
    # the consumer saw the message (SKIPPED).
    LIVE_STREAM = "LIVE_STREAM"


# Failures that may succeed if tried again later (``retry-failed`` re-queues only these).
RETRYABLE = frozenset(
    {
        ErrorCode.PROVIDER_UNAVAILABLE,
        ErrorCode.OPEN_CONVERSATION,
        ErrorCode.NEVER_LOGGED_IN,
        ErrorCode.NO_PUSH_TOKEN,
        ErrorCode.LOGGED_OUT_PUSH_DISABLED,
        ErrorCode.LOGGED_IN_PUSH_DISABLED,
        ErrorCode.TOKEN_UNREGISTERED,
    }
)


class ErrorSource(StrEnum):
    PARLAY = "parlay"
    APNS = "apns"
    FCM = "fcm"
    PROXY = "proxy"
    TWILIO = "twilio"
    WHATSAPP = "whatsapp"
    SANDBOX = "sandbox"


class Source(StrEnum):
    """Why a delivery was sent: a proactive campaign or an IVR deflection (a C2M invite), the two
    outbound messages; or an agent's or bot's message of an in-app conversation pushed to a
    consumer whose app is in the background (``backendService`` ``ams``)."""

    PROACTIVE = "PROACTIVE"
    IVR_DEFLECTION = "IVR_DEFLECTION"
    CONVERSATION = "CONVERSATION"


# The outbound messages: what pending-outbound lists, what a conversation can be attributed to,
# what an agent sees as ``outboundMessages``. A conversation's own pushes are none of these.
OUTBOUND_SOURCES = (Source.PROACTIVE.value, Source.IVR_DEFLECTION.value)

# The queue's order: IVR invites (the priority lane) before campaign deliveries. An agent's or
# bot's push answers a consumer who is waiting too: it takes the priority lane as well.
INVITE_PRIORITY = 0
CONVERSATION_PRIORITY = INVITE_PRIORITY
CAMPAIGN_PRIORITY = 10
