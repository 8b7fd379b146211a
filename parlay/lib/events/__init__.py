"""Live events: the hub that carries them between processes and the SSE streams that deliver
them to agents and consumers."""

from parlay.lib.events.hub import (
    OVERFLOW,
    Event,
    EventHub,
    MemoryHub,
    RedisHub,
    Subscription,
    build_hub,
)
from parlay.lib.events.sse import EventStreamResponse, event_stream_response, sse_stream

__all__ = [
    "OVERFLOW",
    "Event",
    "EventHub",
    "EventStreamResponse",
    "MemoryHub",
    "RedisHub",
    "Subscription",
    "build_hub",
    "event_stream_response",
    "sse_stream",
]
