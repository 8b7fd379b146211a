"""Live events: the hub that carries them between processes and the SSE streams that deliver
them to agents and consumers."""

from parlay.events.hub import (
    OVERFLOW,
    Event,
    EventHub,
    MemoryHub,
    RedisHub,
    Subscription,
    build_hub,
)
from parlay.events.sse import EventStreamResponse, event_stream_response, sse_stream

__all__ = [
    "OVERFLOW",
    "Event",
    "EventStreamResponse",
    "EventHub",
    "MemoryHub",
    "RedisHub",
    "Subscription",
    "build_hub",
    "event_stream_response",
    "sse_stream",
]
