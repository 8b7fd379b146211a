"""The consumer's rating of a closed conversation (CSAT, 1-5), once per conversation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.conversations.models import Conversation
from parlay.delivery import lifecycle
from parlay.lib.errors import Conflict, NotFound

CLOSED = "CLOSED"
SCORES = range(1, 6)


async def rate(
    session: AsyncSession,
    account_id: str,
    consumer_id: str,
    phone: str | None,
    conversation_id: str,
    score: int,
    now: datetime,
) -> Conversation:
    """Record the consumer's rating of their closed conversation; 404 if it is not theirs, 409
    while it is open or once it was rated."""
    who = Conversation.consumer_id == consumer_id
    if phone:
        who = who | (Conversation.phone == phone)
    c = await session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id, Conversation.account_id == account_id, who)
        .with_for_update()
    )
    if c is None:
        raise NotFound(f"no conversation {conversation_id!r} of yours")
    if c.state != CLOSED:
        raise Conflict("a conversation is rated once it is closed")
    if c.csat_score is not None:
        raise Conflict("this conversation was rated already")
    c.csat_score, c.csat_time = score, now
    if c.delivery_id is not None:
        await lifecycle.record_rating(session, c.delivery_id, score)
    return c
