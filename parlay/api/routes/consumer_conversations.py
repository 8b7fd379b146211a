"""The consumer's side of a conversation (SPEC §9), for the mobile SDK, under
``/api/account/{accountId}/consumer/`` and authenticated by the brand's JWT."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from parlay.api.deps import ContainerDep
from parlay.api.params import AccountIdPath
from parlay.consumers.api import Consumer
from parlay.consumers.models import Consumer as ConsumerRow
from parlay.conversations import service
from parlay.conversations.routing import consumer_writes, message_view
from parlay.conversations.schemas import (
    ConsumerConversationOut,
    ConsumerMessageIn,
    ConsumerMessageOut,
)
from parlay.conversations.streams import live_stream
from parlay.conversations.topics import Outbox, consumer_topic

router = APIRouter(prefix="/api/account/{accountId}/consumer", tags=["consumer"])


@router.post(
    "/messages",
    operation_id="sendConsumerMessage",
    response_model=ConsumerMessageOut,
    status_code=201,
)
async def send_message(
    accountId: AccountIdPath, body: ConsumerMessageIn, c: ContainerDep, me: Consumer
) -> ConsumerMessageOut:
    """Write to the brand. With no open conversation this opens one, routed by the rule of
    SPEC §9: to the skill of the most recent outbound message still within its lookback (no
    welcome message), else to the account's default skill (welcome message if enabled)."""
    outbox = Outbox()
    async with c.db.write() as session:
        written = await consumer_writes(
            session,
            account_id=me.account_id,
            consumer_id=me.consumer_id,
            channel="inapp",
            text=body.text,
            device_id=body.device_id,
            now=c.clock.now(),
            contexts=c.contexts,
            outbox=outbox,
        )
        view = message_view(written.message)
    await outbox.publish(c.hub)
    return ConsumerMessageOut.model_validate(
        {"conversationId": written.conversation.id, "message": view}
    )


async def _phone(c: ContainerDep, account_id: str, consumer_id: str) -> str | None:
    async with c.db.read() as session:
        phone: str | None = await session.scalar(
            select(ConsumerRow.phone).where(
                ConsumerRow.account_id == account_id, ConsumerRow.consumer_id == consumer_id
            )
        )
    return phone


@router.get(
    "/conversation", operation_id="getConsumerConversation", response_model=ConsumerConversationOut
)
async def get_conversation(
    accountId: AccountIdPath, c: ContainerDep, me: Consumer
) -> ConsumerConversationOut:
    """My open conversation with every message (else my most recent one; 404 if none)."""
    phone = await _phone(c, me.account_id, me.consumer_id)
    async with c.db.read() as session:
        view = await service.consumer_conversation(session, me.account_id, me.consumer_id, phone)
    return ConsumerConversationOut.model_validate(view)


@router.get(
    "/events",
    operation_id="consumerEvents",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    accountId: AccountIdPath, request: Request, c: ContainerDep, me: Consumer
) -> StreamingResponse:
    """Server-sent events: agent, bot and system messages of my conversation, its closing, and
    outbound messages sent to me while the app is open."""
    topics = [consumer_topic(me.account_id, me.consumer_id, None)]
    phone = await _phone(c, me.account_id, me.consumer_id)
    if phone:
        topics.append(consumer_topic(me.account_id, None, phone))
    return live_stream(c, topics, request)
