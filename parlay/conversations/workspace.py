"""The agent workspace: state, my conversations, the queues, accept, reply, transfer, close; and
the conversation as agents and consumers see it.

Agents (and bots, which are agents driven by software) see the conversations of their skills
and those assigned to them; agent managers see every conversation and every queue. These
functions work inside the caller's unit of work (``parlay.conversations.usecases`` opens it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import User
from parlay.accounts.permissions import Permission, Principal, Role
from parlay.accounts.service import require_skill
from parlay.conversations import pushes, topics, webhooks
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
from parlay.conversations.models import CLOSED, OPEN, Conversation, Message
from parlay.conversations.routing import add_message
from parlay.conversations.topics import agent_topic, skill_topic, supervisor_topic
from parlay.conversations.views import (
    AgentConversation,
    AgentStatus,
    ConsumerConversation,
    ConversationSummary,
    MessageView,
    QueueEntry,
    queue_entry,
)
from parlay.delivery import lifecycle
from parlay.delivery.origins import Origins
from parlay.lib.db.uow import UnitOfWork
from parlay.lib.errors import Conflict, NotFound
from parlay.lib.events.live import LiveEvent

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
        """Open conversations of my skills and those assigned to me; once closed, only those I
        handled (assigned to me when it closed). A manager sees every one."""
        if self.supervisor or c.assigned_agent_id == self.user_id:
            return True
        return c.state == OPEN and c.skill in self.skills

    @property
    def sender(self) -> str:
        return "bot" if self.is_bot else "agent"


async def load_agent(session: AsyncSession, principal: Principal) -> Agent:
    user = await session.get(User, principal.subject_id)
    assert user is not None
    assert user.account_id == principal.account_id
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


async def agent_status(session: AsyncSession, agent: Agent) -> AgentStatus:
    loads = await open_loads(session, [agent.user_id])
    return AgentStatus(
        agent_id=str(agent.user_id),
        state=agent.state,
        skills=sorted(agent.skills),
        max_concurrent_conversations=agent.maximum,
        open_conversations=loads.get(agent.user_id, 0),
    )


@dataclass(frozen=True)
class AgentLoad:
    """One agent (or bot) of the account as an agent manager watches them."""

    user_id: int
    username: str
    is_bot: bool
    state: str
    skills: list[str]
    maximum: int
    open_conversations: int


async def agents_overview(session: AsyncSession, account_id: str) -> list[AgentLoad]:
    """Every enabled agent and bot of the account: state, skills, maximum and load."""
    users = [
        u
        for u in (
            await session.execute(
                select(User)
                .where(User.account_id == account_id, User.disabled.is_(False))
                .order_by(User.username)
            )
        ).scalars()
        if Role.AGENT.value in u.roles
    ]
    ids = [u.id for u in users]
    skills = await agent_skills(session, ids) if ids else {}
    loads = await open_loads(session, ids) if ids else {}
    return [
        AgentLoad(
            user_id=u.id,
            username=u.username,
            is_bot=u.type == "bot",
            state=u.agent_state,
            skills=sorted(skills.get(u.id, set())),
            maximum=u.max_concurrent_conversations,
            open_conversations=loads.get(u.id, 0),
        )
        for u in users
    ]


async def set_state(uow: UnitOfWork, agent: Agent, state: str) -> Agent:
    """Going ONLINE takes waiting work at once; AWAY and OFFLINE keep what is assigned (the
    agent finishes or transfers it) and receive nothing new."""
    await lock_account_routing(uow.session, agent.account_id)
    await uow.session.execute(
        update(User)
        .where(User.id == agent.user_id)
        .values(agent_state=state, agent_state_at=uow.now)
        .execution_options(synchronize_session=False)
    )
    agent = replace(agent, state=state)
    uow.emit(
        LiveEvent.of(
            [agent_topic(agent.account_id, agent.user_id), supervisor_topic(agent.account_id)],
            {"type": "agent.state", "agentId": str(agent.user_id), "state": state},
        )
    )
    if state == AgentState.ONLINE:
        await assign_waiting(uow, agent.account_id)
    return agent


async def my_conversations(session: AsyncSession, agent: Agent) -> list[ConversationSummary]:
    rows = await session.execute(
        select(Conversation)
        .where(
            Conversation.account_id == agent.account_id,
            Conversation.state == OPEN,
            Conversation.assigned_agent_id == agent.user_id,
        )
        .order_by(Conversation.assigned_at, Conversation.created_at, Conversation.id)
    )
    return [ConversationSummary.of(c) for c in rows.scalars()]


async def queue(session: AsyncSession, agent: Agent) -> list[QueueEntry]:
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
        waiting.append(queue_entry(c, places[c.skill]))
    return waiting


async def _visible(session: AsyncSession, agent: Agent, conversation_id: str) -> Conversation:
    c = await session.get(Conversation, conversation_id)
    if c is None or c.account_id != agent.account_id or not agent.can_see(c):
        raise NotFound(f"no conversation {conversation_id!r}")
    return c


async def messages_of(session: AsyncSession, conversation_id: str) -> list[MessageView]:
    """The conversation's most recent messages (at most ``MESSAGES_LIMIT``), oldest first."""
    rows = await session.execute(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(MESSAGES_LIMIT)
    )
    return [MessageView.of(m) for m in reversed(rows.scalars().all())]


async def agent_view(
    uow: UnitOfWork, conversation: Conversation, origins: Origins
) -> AgentConversation:
    session = uow.session
    return AgentConversation(
        conversation_id=conversation.id,
        state=conversation.state,
        skill=conversation.skill,
        assigned_agent=str(conversation.assigned_agent_id)
        if conversation.assigned_agent_id is not None
        else None,
        channel=conversation.channel,
        source=conversation.source,
        context=conversation_context(conversation),
        outbound_messages=await outbound_messages(session, conversation, origins, uow.now),
        messages=await messages_of(session, conversation.id),
        created_at=conversation.created_at,
        closed_at=conversation.closed_at,
    )


async def get_conversation(
    uow: UnitOfWork, agent: Agent, conversation_id: str, origins: Origins
) -> AgentConversation:
    c = await _visible(uow.session, agent, conversation_id)
    return await agent_view(uow, c, origins)


async def _load_of(session: AsyncSession, agent: Agent) -> int:
    return (await open_loads(session, [agent.user_id])).get(agent.user_id, 0)


def _require_open(c: Conversation) -> None:
    if c.state != OPEN:
        raise Conflict(f"conversation {c.id!r} is closed")


async def accept(uow: UnitOfWork, agent: Agent, conversation_id: str) -> Conversation:
    """Accept a conversation assigned to me, or take one waiting in my skills' queues (a
    manager: any queue) while below my maximum."""
    session = uow.session
    await lock_account_routing(session, agent.account_id)
    c = await _visible(session, agent, conversation_id)
    _require_open(c)
    if c.assigned_agent_id == agent.user_id:
        c.accepted_at = c.accepted_at or uow.now
    elif c.assigned_agent_id is not None:
        raise Conflict(f"conversation {c.id!r} is assigned to another agent")
    else:
        if await _load_of(session, agent) >= agent.maximum:
            raise Conflict(
                f"you already have {agent.maximum} open conversations (maxConcurrentConversations)"
            )
        assign(uow, c, agent.user_id)
        c.accepted_at = uow.now
    await session.flush()
    return c


def _own(agent: Agent, c: Conversation, *, managers_too: bool) -> None:
    if c.assigned_agent_id == agent.user_id or (managers_too and agent.supervisor):
        return
    raise Conflict(f"conversation {c.id!r} is not assigned to you")


async def reply(uow: UnitOfWork, agent: Agent, conversation_id: str, text: str) -> Message:
    """The assigned agent (or bot) writes; writing accepts the conversation if not yet done.
    The consumer hears it on their live stream, and by push on devices without one."""
    session = uow.session
    c = await _visible(session, agent, conversation_id)
    _require_open(c)
    _own(agent, c, managers_too=False)
    await pushes.check_can_write(uow, c, agent.sender)
    c.accepted_at = c.accepted_at or uow.now
    message = add_message(session, c, agent.sender, text, uow.now, agent_id=agent.user_id)
    await session.flush()
    await pushes.push_message(uow, c, message)
    await webhooks.message(uow, c, message)
    added = topics.message_added(c, message)
    uow.emit(
        added,
        LiveEvent.of(
            [supervisor_topic(c.account_id)], {**added.body, "type": "conversation.message"}
        ),
    )
    return message


async def transfer(uow: UnitOfWork, agent: Agent, conversation_id: str, skill: str) -> Conversation:
    """Back of the named skill's queue; the agent who had it is free for the next one."""
    session = uow.session
    await lock_account_routing(session, agent.account_id)
    c = await _visible(session, agent, conversation_id)
    _require_open(c)
    _own(agent, c, managers_too=True)
    await require_skill(session, agent.account_id, skill)
    previous = c.assigned_agent_id
    c.skill = skill
    # The consumer reads this too: it names no skill (skill names are the brand's internals).
    note = add_message(session, c, "system", TRANSFER_NOTE, uow.now)
    enqueue(uow, c)
    await session.flush()
    await webhooks.transferred(uow, c, previous)
    if previous is not None:
        uow.emit(
            LiveEvent.of(
                [agent_topic(c.account_id, previous)],
                {"type": "conversation.transferred", "conversationId": c.id, "skill": skill},
            )
        )
    uow.emit(topics.message_added(c, note))
    await assign_waiting(uow, agent.account_id)
    return c


async def close(uow: UnitOfWork, agent: Agent, conversation_id: str) -> Conversation:
    """End it (idempotent); the delivery that started it records ``conversationClosedTime``.
    A later consumer message opens a new, unattributed conversation."""
    session = uow.session
    await lock_account_routing(session, agent.account_id)
    c = await _visible(session, agent, conversation_id)
    if c.state == CLOSED:
        return c
    _own(agent, c, managers_too=True)
    await close_conversation(uow, c, "agent")
    await assign_waiting(uow, agent.account_id)
    return c


async def close_conversation(uow: UnitOfWork, c: Conversation, by: str) -> None:
    previous = c.assigned_agent_id
    c.state, c.closed_at, c.closed_by, c.queued_at = CLOSED, uow.now, by, None
    if c.delivery_id is not None:
        await lifecycle.mark_conversation_closed(uow.session, c.delivery_id, uow.now)
    await uow.session.flush()
    await webhooks.closed(uow, c)
    listeners = [
        supervisor_topic(c.account_id),
        topics.consumer_topic(c.account_id, c.consumer_id, c.phone),
    ]
    if previous is not None:
        listeners.append(agent_topic(c.account_id, previous))
    uow.emit(
        LiveEvent.of(
            listeners, {"type": "conversation.closed", "conversationId": c.id, "closedBy": by}
        )
    )


async def consumer_conversation(
    session: AsyncSession, account_id: str, consumer_id: str, phone: str | None
) -> ConsumerConversation:
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
    return ConsumerConversation(
        conversation_id=c.id,
        state=c.state,
        channel=c.channel,
        created_at=c.created_at,
        closed_at=c.closed_at,
        messages=await messages_of(session, c.id),
    )


def agent_topics(agent: Agent) -> Sequence[str]:
    """What an agent's live stream listens to."""
    listens = [agent_topic(agent.account_id, agent.user_id)]
    listens += [skill_topic(agent.account_id, s) for s in sorted(agent.skills)]
    if agent.supervisor:
        listens.append(supervisor_topic(agent.account_id))
    return listens
