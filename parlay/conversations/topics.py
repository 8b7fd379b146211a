"""Who hears what: live-event topics of one account, and events gathered during a transaction.

Events are published only after the transaction that caused them committed (a subscriber that
reloads on an event must find the change), and best-effort: the database stays the source of
truth, a client that missed events reloads ``GET conversations`` / ``GET conversation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parlay.events.hub import EventHub
from parlay.observability.logging import get_logger

log = get_logger("parlay.conversations")


def agent_topic(account_id: str, user_id: int) -> str:
    """Events for one agent or bot: conversations assigned to them, their consumers' messages."""
    return f"{account_id}:agent:{user_id}"


def skill_topic(account_id: str, skill: str | None) -> str:
    """Queue changes of one skill (``-`` is the queue of conversations without a skill)."""
    return f"{account_id}:skill:{skill or '-'}"


def supervisor_topic(account_id: str) -> str:
    """Everything agent managers watch: every queue and every conversation's activity."""
    return f"{account_id}:supervisor"


def consumer_topic(account_id: str, consumer_id: str | None, phone: str | None) -> str:
    """Events for one consumer's app: agent, bot and system messages, and closure."""
    return f"{account_id}:consumer:" + (f"c:{consumer_id}" if consumer_id else f"p:{phone}")


def _plain(value: Any) -> Any:
    """JSON-ready, with times written as the API writes them (ISO 8601, ``Z``)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class Outbox:
    """Events a use case produced, to publish once its transaction has committed."""

    items: list[tuple[tuple[str, ...], dict[str, Any]]] = field(default_factory=list)

    def add(self, topics: Sequence[str], event: dict[str, Any]) -> None:
        self.items.append((tuple(topics), _plain(event)))

    async def publish(self, hub: EventHub) -> None:
        for topics, event in self.items:
            try:
                await hub.publish(topics, event)
            except Exception:  # noqa: BLE001 - live events are best-effort, the DB has it all
                log.warning("could not publish a live event", event_type=event.get("type"))
        self.items.clear()
