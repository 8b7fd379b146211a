"""Closed conversations, as agents look back on them: a page at a time, newest closed first.

An agent (or bot) sees the closed conversations they handled: those assigned to them when they
closed. One transferred away before it closed belongs to the agent who had it last. An agent
manager sees every closed conversation of the account. The cursor names the last conversation
of the previous page; the next page goes on strictly after it in (closed time, ID) order, so
conversations closed meanwhile never shift a page (they are newer than the first one).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.conversations.models import CLOSED, Conversation
from parlay.conversations.views import ConversationSummary
from parlay.conversations.workspace import Agent
from parlay.lib.errors import invalid_field

_CURSOR_PREFIX = "x"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[ConversationSummary]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True)
class _After:
    closed_at: datetime
    conversation_id: str


def _encode(c: Conversation) -> str:
    assert c.closed_at is not None
    micros = (c.closed_at - _EPOCH) // _MICROSECOND  # exact: a float would round
    raw = f"{_CURSOR_PREFIX}{micros}/{c.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> _After:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, _, conversation_id = raw.removeprefix(_CURSOR_PREFIX).partition("/")
        if not raw.startswith(_CURSOR_PREFIX) or not micros.isascii() or not micros.isdigit():
            raise ValueError(cursor)
        if not 0 < len(conversation_id) <= 36:
            raise ValueError(cursor)
        closed_at = _EPOCH + int(micros) * _MICROSECOND
    except (ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:
        raise invalid_field("cursor", "not a cursor this API returned") from exc
    return _After(closed_at, conversation_id)


async def closed_conversations(
    session: AsyncSession, agent: Agent, *, cursor: str | None, limit: int
) -> ConversationPage:
    """A page of the closed conversations ``agent`` may read, newest closed first."""
    query = select(Conversation).where(
        Conversation.account_id == agent.account_id, Conversation.state == CLOSED
    )
    if not agent.supervisor:
        query = query.where(Conversation.assigned_agent_id == agent.user_id)
    if cursor is not None:
        after = _decode(cursor)
        query = query.where(
            or_(
                Conversation.closed_at < after.closed_at,
                and_(
                    Conversation.closed_at == after.closed_at,
                    Conversation.id < after.conversation_id,
                ),
            )
        )
    rows = (
        (
            await session.execute(
                query.order_by(Conversation.closed_at.desc(), Conversation.id.desc()).limit(
                    limit + 1
                )
            )
        )
        .scalars()
        .all()
    )
    page = rows[:limit]
    next_cursor = _encode(page[-1]) if len(rows) > limit else None
    return ConversationPage([ConversationSummary.of(c) for c in page], next_cursor)
