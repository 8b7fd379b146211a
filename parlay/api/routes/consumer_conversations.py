"""The consumer's side of a conversation, for the mobile SDK, under
``/api/account/{accountId}/consumer/`` and authenticated by the brand's JWT."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from parlay.api.deps import Consumer, ServicesDep
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath, ConversationIdPath
from parlay.api.schemas.conversations import (
    ConsumerConversationOut,
    ConsumerMessageIn,
    ConsumerMessageOut,
    RatingIn,
    RatingOut,
)
from parlay.api.streams import live_stream
from parlay.api.strict_json import api_router
from parlay.conversations import usecases

router = api_router(prefix="/api/account/{accountId}/consumer", tags=["consumer"])


@router.post(
    "/messages",
    operation_id="sendConsumerMessage",
    response_model=ConsumerMessageOut,
    status_code=201,
)
async def send_message(
    accountId: AccountIdPath, body: ConsumerMessageIn, s: ServicesDep, me: Consumer
) -> ConsumerMessageOut:
    """Write to the brand. With no open conversation this opens one, routed to the skill of the
    most recent outbound message still within its lookback (no welcome message), else to the
    account's default skill (welcome message if enabled)."""
    posted = await usecases.consumer_writes(s.tx, s.origins, me, body.text, body.device_id)
    return ConsumerMessageOut.model_validate(posted)


@router.get(
    "/conversation", operation_id="getConsumerConversation", response_model=ConsumerConversationOut
)
async def get_conversation(
    accountId: AccountIdPath, s: ServicesDep, me: Consumer
) -> ConsumerConversationOut:
    """My open conversation with every message (else my most recent one; 404 if none)."""
    return ConsumerConversationOut.model_validate(await usecases.consumer_conversation(s.tx, me))


@router.post(
    "/conversations/{conversationId}/csat",
    operation_id="rateConversation",
    response_model=RatingOut,
    responses=problems(409),
)
async def rate_conversation(
    accountId: AccountIdPath,
    conversationId: ConversationIdPath,
    body: RatingIn,
    s: ServicesDep,
    me: Consumer,
) -> RatingOut:
    """Rate my closed conversation, 1-5 (CSAT), once; reported as the ``csat`` of the outbound
    message that started it."""
    rated = await usecases.rate_conversation(s.tx, me, conversationId, body.score)
    return RatingOut(conversation_id=rated.conversation_id, score=rated.score)


@router.get(
    "/events",
    operation_id="consumerEvents",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    accountId: AccountIdPath,
    request: Request,
    s: ServicesDep,
    me: Consumer,
    deviceId: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=255,
            description="The registered device holding this stream: agents' and bots' messages "
            "reach it here and are not pushed to it while the stream is open.",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-sent events: agent, bot and system messages of my conversation, its closing, and
    outbound messages sent to me while the app is open."""
    subscriber = f"consumer:{me.account_id}/{me.consumer_id}"
    stream = await usecases.consumer_stream(s.tx, me, deviceId)
    return live_stream(s, subscriber, stream.topics, request, present_as=stream.presence)
