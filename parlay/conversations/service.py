"""The agent workspace's use cases (SPEC §10): state, my conversations, the queues, accept,
reply, transfer, close; and the conversation as agents and consumers see it.

Agents (and bots, which are agents driven by software) see the conversations of their skills
and those assigned to them; agent managers see every conversation and every queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import User
from parlay.accounts.permissions import Permission, Principal
from parlay.accounts.service import require_skill
from parlay.conversations.assignment import (
    AgentState,
    agent_skills,
    assign,
    assign_waiting,
    enqueue,
    lock_account_routing,
    open_loads,
)
from parlay.conversations.context import conversation_context, outbound_messages
from parlay.conversations.models import Conversation, Message
from parlay.conversations.routing import CLOSED, OPEN, add_message, message_view
from parlay.conversations.topics import (
    Outbox,
    agent_topic,
    consumer_topic,
    skill_topic,
    supervisor_topic,
)
from parlay.errors import Conflict, NotFound
from parlay.outbound.context import ContextCache
from parlay.outbound.models import Delivery

MESSAGES_LIMIT = 500
TRANSFER_NOTE = "You are being transferred to another agent."


@dataclass(frozen=True)
class Agent:
    """The calling agent, bot or agent manager, with what routing knows of them."""

    account_id: str
    user_id: int
    is_bot: bool
    supervisor: bool
    skills: frozenset[str]
    maximum: int
    state: str

    def can_see(self, c: Conversation) -> bool:
        return self.supervisor or c.assigned_agent_id == self.user_id or c.skill in self.skills

    @property
    def sender(self) -> str:
        return "bot" if self.is_bot else "agent"


async def load_agent(session: AsyncSession, principal: Principal) -> Agent:
    user = await session.get(User, principal.subject_id)
    assert user is not None and user.account_id == principal.account_id
    skills = await agent_skills(session, [user.id])
    return Agent(
        account_id=user.account_id,
        user_id=user.id,
        is_bot=user.type == "bot",
        supervisor=principal.can(Permission.AGENT_SUPERVISE),
        skills=frozenset(skills.get(user.id, set())),
        maximum=user.max_concurrent_conversations,
        state=user.agent_state,
    )


async def agent_status(session: AsyncSession, agent: Agent) -> dict[str, Any]:
    loads = await open_loads(session, [agent.user_id])
    return {
        "agentId": str(agent.user_id),
        "state": agent.state,
        "skills": sorted(agent.skills),
        "maxConcurrentConversations": agent.maximum,
        "openConversations": loads.get(agent.user_id, 0),
    }


async def set_state(
    session: AsyncSession, agent: Agent, state: str, now: datetime, outbox: Outbox
) -> Agent:
    """Going ONLINE takes waiting work at once; AWAY and OFFLINE keep what is assigned (the
    agent finishes or transfers it) and receive nothing new."""
    await lock_account_routing(session, agent.account_id)
    await session.execute(
        update(User)
        .where(User.id == agent.user_id)
        .values(agent_state=state, agent_state_at=now)
        .execution_options(synchronize_session=False)
    )
    agent = replace(agent, state=state)
    outbox.add(
        [agent_topic(agent.account_id, agent.user_id), supervisor_topic(agent.account_id)],
        {"type": "agent.state", "agentId": str(agent.user_id), "state": state},
    )
    if state == AgentState.ONLINE:
        await assign_waiting(session, agent.account_id, now, outbox)
    return agent


def summary(c: Conversation) -> dict[str, Any]:
    return {
        "conversationId": c.id,
        "state": c.state,
        "skill": c.skill,
        "channel": c.channel,
        "assignedAgent": str(c.assigned_agent_id) if c.assigned_agent_id is not None else None,
        "source": c.source,
        "createdAt": c.created_at,
        "queuedAt": c.queued_at,
        "assignedAt": c.assigned_at,
        "acceptedAt": c.accepted_at,
        "lastMessageAt": c.last_message_at,
        "closedAt": c.closed_at,
    }


async def my_conversations(session: AsyncSession, agent: Agent) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Conversation)
        .where(
            Conversation.account_id == agent.account_id,
            Conversation.state == OPEN,
            Conversation.assigned_agent_id == agent.user_id,
        )
        .order_by(Conversation.assigned_at, Conversation.created_at, Conversation.id)
    )
    return [summary(c) for c in rows.scalars()]


async def queue(session: AsyncSession, agent: Agent) -> list[dict[str, Any]]:
    """Waiting conversations, oldest first, in the agent's skills (every skill for a manager),
    each with its place in its own skill's queue."""
    query = select(Conversation).where(
        Conversation.account_id == agent.account_id,
        Conversation.state == OPEN,
        Conversation.assigned_agent_id.is_(None),
    )
    if not agent.supervisor:
        query = query.where(Conversation.skill.in_(sorted(agent.skills)))
    rows = (
        await session.execute(
            query.order_by(Conversation.queued_at, Conversation.created_at, Conversation.id)
        )
    ).scalars()
    places: dict[str | None, int] = {}
    waiting = []
    for c in rows:
        places[c.skill] = places.get(c.skill, 0) + 1
        waiting.append({**summary(c), "position": places[c.skill]})
    return waiting


async def _visible(session: AsyncSession, agent: Agent, conversation_id: str) -> Conversation:
    c = await session.get(Conversation, conversation_id)
    if c is None or c.account_id != agent.account_id or not agent.can_see(c):
        raise NotFound(f"no conversation {conversation_id!r}")
    return c


async def messages_of(session: AsyncSession, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's most recent messages (at most ``MESSAGES_LIMIT``), oldest first."""
    rows = await session.execute(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(MESSAGES_LIMIT)
    )
    return [message_view(m) for m in reversed(rows.scalars().all())]


async def agent_view(
    session: AsyncSession, conversation: Conversation, contexts: ContextCache, now: datetime
) -> dict[str, Any]:
    return {
        "conversationId": conversation.id,
        "state": conversation.state,
        "skill": conversation.skill,
        "assignedAgent": str(conversation.assigned_agent_id)
        if conversation.assigned_agent_id is not None
        else None,
        "channel": conversation.channel,
        "source": conversation.source,
        "context": conversation_context(conversation),
        "outboundMessages": await outbound_messages(session, conversation, contexts, now),
        "messages": await messages_of(session, conversation.id),
        "createdAt": conversation.created_at,
        "closedAt": conversation.closed_at,
    }


async def get_conversation(
    session: AsyncSession, agent: Agent, conversation_id: str, contexts: ContextCache, now: datetime
) -> dict[str, Any]:
    c = await _visible(session, agent, conversation_id)
    return await agent_view(session, c, contexts, now)


async def _load_of(session: AsyncSession, agent: Agent) -> int:
    return (await open_loads(session, [agent.user_id])).get(agent.user_id, 0)


def _require_open(c: Conversation) -> None:
    if c.state != OPEN:
        raise Conflict(f"conversation {c.id!r} is closed")


async def accept(
    session: AsyncSession, agent: Agent, conversation_id: str, now: datetime, outbox: Outbox
) -> Conversation:
    """Accept a conversation assigned to me, or take one waiting in my skills' queues (a
    manager: any queue) while below my maximum."""
    await lock_account_routing(session, agent.account_id)
    c = await _visible(session, agent, conversation_id)
    _require_open(c)
    if c.assigned_agent_id == agent.user_id:
        c.accepted_at = c.accepted_at or now
    elif c.assigned_agent_id is not None:
        raise Conflict(f"conversation {c.id!r} is assigned to another agent")
    else:
        if await _load_of(session, agent) >= agent.maximum:
            raise Conflict(
                f"you already have {agent.maximum} open conversations (maxConcurrentConversations)"
            )
        assign(c, agent.user_id, now, outbox)
        c.accepted_at = now
    await session.flush()
    return c


def _own(agent: Agent, c: Conversation, *, managers_too: bool) -> None:
    if c.assigned_agent_id == agent.user_id or (managers_too and agent.supervisor):
        return
    raise Conflict(f"conversation {c.id!r} is not assigned to you")


async def reply(
    session: AsyncSession,
    agent: Agent,
    conversation_id: str,
    text: str,
    now: datetime,
    outbox: Outbox,
) -> Message:
    """The assigned agent (or bot) writes; writing accepts the conversation if not yet done."""
    c = await _visible(session, agent, conversation_id)
    _require_open(c)
    _own(agent, c, managers_too=False)
    c.accepted_at = c.accepted_at or now
    message = add_message(session, c, agent.sender, text, now, agent_id=agent.user_id)
    await session.flush()
    event = {"type": "message", "conversationId": c.id, "message": message_view(message)}
    outbox.add([consumer_topic(c.account_id, c.consumer_id, c.phone)], event)
    outbox.add(
        [supervisor_topic(c.account_id)],
        {**event, "type": "conversation.message"},
    )
    return message


async def transfer(
    session: AsyncSession,
    agent: Agent,
    conversation_id: str,
    skill: str,
    now: datetime,
    outbox: Outbox,
) -> Conversation:
    """Back of the named skill's queue; the agent who had it is free for the next one."""
    await lock_account_routing(session, agent.account_id)
    c = await _visible(session, agent, conversation_id)
    _require_open(c)
    _own(agent, c, managers_too=True)
    await require_skill(session, agent.account_id, skill)
    previous = c.assigned_agent_id
    c.skill = skill
    # The consumer reads this too: it names no skill (skill names are the brand's internals).
    note = add_message(session, c, "system", TRANSFER_NOTE, now)
    enqueue(c, now, outbox)
    await session.flush()
    if previous is not None:
        outbox.add(
            [agent_topic(c.account_id, previous)],
            {"type": "conversation.transferred", "conversationId": c.id, "skill": skill},
        )
    outbox.add(
        [consumer_topic(c.account_id, c.consumer_id, c.phone)],
        {"type": "message", "conversationId": c.id, "message": message_view(note)},
    )
    await assign_waiting(session, agent.account_id, now, outbox)
    return c


async def close(
    session: AsyncSession, agent: Agent, conversation_id: str, now: datetime, outbox: Outbox
) -> Conversation:
    """End it (idempotent); the delivery that started it records ``conversationClosedTime``.
    A later consumer message opens a new, unattributed conversation."""
    await lock_account_routing(session, agent.account_id)
    c = await _visible(session, agent, conversation_id)
    if c.state == CLOSED:
        return c
    _own(agent, c, managers_too=True)
    await close_conversation(session, c, "agent", now, outbox)
    await assign_waiting(session, agent.account_id, now, outbox)
    return c


async def close_conversation(
    session: AsyncSession, c: Conversation, by: str, now: datetime, outbox: Outbox
) -> None:
    previous = c.assigned_agent_id
    c.state, c.closed_at, c.closed_by, c.queued_at = CLOSED, now, by, None
    if c.delivery_id is not None:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == c.delivery_id, Delivery.conversation_closed_time.is_(None))
            .values(conversation_closed_time=now)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    event = {"type": "conversation.closed", "conversationId": c.id, "closedBy": by}
    topics = [supervisor_topic(c.account_id), consumer_topic(c.account_id, c.consumer_id, c.phone)]
    if previous is not None:
        topics.append(agent_topic(c.account_id, previous))
    outbox.add(topics, event)


async def consumer_conversation(
    session: AsyncSession, account_id: str, consumer_id: str, phone: str | None
) -> dict[str, Any]:
    """The consumer's open conversation, else their most recent one (404 if they have none)."""
    who = Conversation.consumer_id == consumer_id
    if phone:
        who = who | (Conversation.phone == phone)
    c = await session.scalar(
        select(Conversation)
        .where(Conversation.account_id == account_id, who)
        .order_by((Conversation.state == OPEN).desc(), Conversation.created_at.desc())
        .limit(1)
    )
    if c is None:
        raise NotFound("no conversation yet")
    return {
        "conversationId": c.id,
        "state": c.state,
        "channel": c.channel,
        "createdAt": c.created_at,
        "closedAt": c.closed_at,
        "messages": await messages_of(session, c.id),
    }


def agent_topics(agent: Agent) -> Sequence[str]:
    """What an agent's live stream listens to."""
    topics = [agent_topic(agent.account_id, agent.user_id)]
    topics += [skill_topic(agent.account_id, s) for s in sorted(agent.skills)]
    if agent.supervisor:
        topics.append(supervisor_topic(agent.account_id))
    return topics
