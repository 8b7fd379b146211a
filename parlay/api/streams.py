"""Live streams over HTTP: a hub subscription to the caller's topics, as server-sent events that
end after ``PARLAY_EVENTS_MAX_SECONDS`` (the client reconnects and is authenticated again)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import StreamingResponse

from parlay.lib.events.presence import present_while
from parlay.lib.events.sse import bounded, event_stream_response
from parlay.services import Services


def live_stream(
    services: Services,
    subscriber: str,
    topics: Sequence[str],
    request: Request,
    *,
    present_as: str | None = None,
) -> StreamingResponse:
    """The stream of ``topics`` for ``subscriber`` (who holds at most
    ``PARLAY_EVENTS_MAX_STREAMS`` at once: a newer stream replaces the oldest); while it is
    open, the presence key ``present_as`` (a device) is held in every process's view."""
    settings = services.settings
    subscription = services.hub.subscribe(topics)
    if present_as is not None:
        subscription = present_while(services.presence, present_as, subscription)
    subscription = services.streams.hold(subscriber, subscription)
    return event_stream_response(
        bounded(subscription, settings.events_max_seconds),
        request,
        keepalive=settings.events_keepalive_seconds,
    )
