"""The event types a subscription may ask for, and which of its patterns match a type."""

from __future__ import annotations

from collections.abc import Iterable

# A delivery event's type is ``delivery.`` + the change's kind in lower case (the status reached,
# or a change beside it): every kind ``parlay.delivery.lifecycle`` records.
DELIVERY_KINDS = (
    "SCHEDULED",
    "SENT",
    "DELIVERED",
    "READ",
    "REPLIED",
    "FAILED",
    "SKIPPED",
    "EXPIRED",
    "CANCELLED",
    "CONVERSATION_CLOSED",
    "SUPERSEDED",
)
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_MESSAGE = "conversation.message"
CONVERSATION_TRANSFERRED = "conversation.transferred"
CONVERSATION_CLOSED = "conversation.closed"
# Sent by ``POST .../webhooks/{id}/test`` only; no subscription asks for it.
PING = "ping"

DELIVERY_TYPES = tuple(f"delivery.{kind.lower()}" for kind in DELIVERY_KINDS)
CONVERSATION_TYPES = (
    CONVERSATION_CREATED,
    CONVERSATION_MESSAGE,
    CONVERSATION_TRANSFERRED,
    CONVERSATION_CLOSED,
)
EVENT_TYPES = frozenset((*DELIVERY_TYPES, *CONVERSATION_TYPES))
FAMILIES = frozenset({"delivery.*", "conversation.*"})
PATTERNS = EVENT_TYPES | FAMILIES


def delivery_type(kind: str) -> str:
    return f"delivery.{kind.lower()}"


def unknown_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns that name no event type nor family."""
    return [p for p in patterns if p not in PATTERNS]


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether a subscription with these patterns wants events of ``event_type``."""
    family = event_type.split(".", 1)[0] + ".*"
    return any(p in (event_type, family) for p in patterns)
