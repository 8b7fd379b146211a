"""A live event as a signal: the topics that hear it and its JSON body. Use cases emit them in
their unit of work; once it commits, the composition root hands them to the hub."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parlay.lib.events.hub import EventHub


def plain(value: Any) -> Any:
    """JSON-ready, with times written as the API writes them (ISO 8601, ``Z``)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class LiveEvent:
    topics: tuple[str, ...]
    body: dict[str, Any]

    @classmethod
    def of(cls, topics: Sequence[str], body: Mapping[str, Any]) -> LiveEvent:
        return cls(tuple(topics), plain(body))


async def publish(hub: EventHub, event: LiveEvent) -> None:
    """Publish on the hub (raises if the hub cannot be reached: the caller decides)."""
    await hub.publish(event.topics, event.body)
