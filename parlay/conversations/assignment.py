"""The skill queues and who gets what.

A routed conversation waits in its skill's queue, first come first served, and goes to the
ONLINE agent of that skill with the fewest open conversations, below their maximum; ties go to
whoever was assigned least recently, then the lower user ID. Assignment runs whenever the
balance can change: a conversation is queued or transferred, an agent comes ONLINE, closes or
hands back a conversation, or an admin changes an agent's skills, maximum, roles or disabled
flag. An assigned conversation its agent does not accept in time goes back to its queue (at the
place it left) and the agent is set AWAY: they are evidently not at their desk.

One account's assignments are serialized: SQLite's write transactions already are; on
PostgreSQL a transaction-scoped advisory lock per account keeps two processes from handing the
same agent more than their maximum.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import Skill, User, UserSkill
from parlay.accounts.permissions import Role
from parlay.conversations.models import OPEN, Conversation
from parlay.conversations.topics import agent_topic, skill_topic, supervisor_topic
from parlay.lib.db.uow import UnitOfWork
from parlay.lib.events.live import LiveEvent

_EPOCH = datetime.min


class AgentState:
    ONLINE = "ONLINE"
    AWAY = "AWAY"
    OFFLINE = "OFFLINE"
    ALL = ("ONLINE", "AWAY", "OFFLINE")


@dataclass
class _Agent:
    user_id: int
    maximum: int
    skills: set[str]
    load: int = 0
    last_assigned: datetime | None = None

    def order(self) -> tuple[int, datetime, int]:
        last = self.last_assigned.replace(tzinfo=None) if self.last_assigned else _EPOCH
        return self.load, last, self.user_id


async def lock_account_routing(session: AsyncSession, account_id: str) -> None:
    """Serialize this account's routing changes until the transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('parlay-routing:' || :account))"),
            {"account": account_id},
        )


async def agent_skills(session: AsyncSession, user_ids: list[int]) -> dict[int, set[str]]:
    rows = await session.execute(
        select(UserSkill.user_id, Skill.name)
        .join(Skill, Skill.id == UserSkill.skill_id)
        .where(UserSkill.user_id.in_(user_ids))
    )
    skills: dict[int, set[str]] = defaultdict(set)
    for user_id, name in rows:
        skills[user_id].add(name)
    return skills


async def open_loads(session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    rows = await session.execute(
        select(Conversation.assigned_agent_id, func.count())
        .where(Conversation.state == OPEN, Conversation.assigned_agent_id.in_(user_ids))
        .group_by(Conversation.assigned_agent_id)
    )
    return {int(agent): int(n) for agent, n in rows if agent is not None}


async def _online_agents(session: AsyncSession, account_id: str) -> list[_Agent]:
    users = (
        await session.execute(
            select(User.id, User.roles, User.max_concurrent_conversations).where(
                User.account_id == account_id,
                User.agent_state == AgentState.ONLINE,
                User.disabled.is_(False),
            )
        )
    ).all()
    ids = [uid for uid, roles, _ in users if Role.AGENT.value in roles]
    if not ids:
        return []
    skills = await agent_skills(session, ids)
    loads = await open_loads(session, ids)
    last = dict(
        (
            await session.execute(
                select(Conversation.assigned_agent_id, func.max(Conversation.assigned_at))
                .where(Conversation.assigned_agent_id.in_(ids))
                .group_by(Conversation.assigned_agent_id)
            )
        ).all()
    )
    maxima = {uid: maximum for uid, _, maximum in users}
    return [
        _Agent(uid, maxima[uid], skills.get(uid, set()), loads.get(uid, 0), last.get(uid))
        for uid in ids
    ]


def assign(uow: UnitOfWork, conversation: Conversation, user_id: int) -> None:
    """Hand ``conversation`` to an agent (out of its queue) and tell everyone who cares."""
    account_id = conversation.account_id
    conversation.assigned_agent_id = user_id
    conversation.assigned_at = uow.now
    conversation.accepted_at = None
    conversation.queued_at = None
    uow.emit(
        LiveEvent.of(
            [agent_topic(account_id, user_id), supervisor_topic(account_id)],
            {
                "type": "conversation.assigned",
                "conversationId": conversation.id,
                "skill": conversation.skill,
                "agentId": str(user_id),
            },
        ),
        LiveEvent.of(
            [skill_topic(account_id, conversation.skill), supervisor_topic(account_id)],
            {
                "type": "queue.removed",
                "conversationId": conversation.id,
                "skill": conversation.skill,
            },
        ),
    )


def enqueue(uow: UnitOfWork, conversation: Conversation) -> None:
    """Put ``conversation`` at the back of its skill's queue."""
    account_id = conversation.account_id
    conversation.assigned_agent_id = None
    conversation.assigned_at = None
    conversation.accepted_at = None
    conversation.queued_at = uow.now
    uow.emit(
        LiveEvent.of(
            [skill_topic(account_id, conversation.skill), supervisor_topic(account_id)],
            {
                "type": "queue.added",
                "conversationId": conversation.id,
                "skill": conversation.skill,
                "queuedAt": uow.now,
            },
        )
    )


async def assign_waiting(uow: UnitOfWork, account_id: str) -> list[tuple[str, int]]:
    """Give waiting conversations to ONLINE agents with room, oldest first. Returns what was
    assigned as (conversation ID, agent user ID)."""
    session, now = uow.session, uow.now
    await lock_account_routing(session, account_id)
    agents = [a for a in await _online_agents(session, account_id) if a.load < a.maximum]
    if not agents:
        return []
    room: dict[str, int] = defaultdict(int)
    for agent in agents:
        for skill in agent.skills:
            room[skill] += agent.maximum - agent.load
    waiting: list[Conversation] = []
    for skill, free in room.items():
        # At most ``free`` of each queue can be placed now: never read a whole long queue.
        waiting.extend(
            (
                await session.execute(
                    select(Conversation)
                    .where(
                        Conversation.account_id == account_id,
                        Conversation.state == OPEN,
                        Conversation.assigned_agent_id.is_(None),
                        Conversation.skill == skill,
                    )
                    .order_by(Conversation.queued_at, Conversation.created_at, Conversation.id)
                    .limit(free)
                )
            )
            .scalars()
            .all()
        )
    waiting.sort(key=lambda c: (c.queued_at or now, c.created_at, c.id))
    assigned = []
    for conversation in waiting:
        candidates = [a for a in agents if conversation.skill in a.skills and a.load < a.maximum]
        if not candidates:
            continue
        agent = min(candidates, key=_Agent.order)
        assign(uow, conversation, agent.user_id)
        agent.load += 1
        agent.last_assigned = now
        assigned.append((conversation.id, agent.user_id))
    await session.flush()
    return assigned


def _lapsed(before: datetime) -> ColumnElement[bool]:
    return (
        (Conversation.state == OPEN)
        & Conversation.assigned_agent_id.is_not(None)
        & Conversation.accepted_at.is_(None)
        & (Conversation.assigned_at < before)
    )


async def accounts_with_lapsed(session: AsyncSession, before: datetime) -> list[str]:
    """Accounts holding a conversation assigned before ``before`` and not accepted since."""
    rows = await session.execute(select(Conversation.account_id).where(_lapsed(before)).distinct())
    return sorted(rows.scalars())


async def requeue_lapsed(uow: UnitOfWork, account_id: str, before: datetime) -> list[str]:
    """Conversations of ``account_id`` assigned before ``before`` and never accepted go back to
    their queue, ahead of everything queued after they left it; their agents go AWAY, and the
    queue is assigned again. Returns the conversations taken back."""
    session = uow.session
    await lock_account_routing(session, account_id)
    lapsed = (
        (
            await session.execute(
                select(Conversation)
                .where(Conversation.account_id == account_id, _lapsed(before))
                .order_by(Conversation.assigned_at, Conversation.id)
            )
        )
        .scalars()
        .all()
    )
    if not lapsed:
        return []
    agents = sorted({c.assigned_agent_id for c in lapsed if c.assigned_agent_id is not None})
    for c in lapsed:
        agent_id, left_queue = c.assigned_agent_id, c.assigned_at
        enqueue(uow, c)
        c.queued_at = left_queue
        assert agent_id is not None
        uow.emit(
            LiveEvent.of(
                [agent_topic(account_id, agent_id), supervisor_topic(account_id)],
                {
                    "type": "conversation.unassigned",
                    "conversationId": c.id,
                    "agentId": str(agent_id),
                },
            )
        )
    await session.execute(
        update(User)
        .where(User.id.in_(agents), User.agent_state == AgentState.ONLINE)
        .values(agent_state=AgentState.AWAY, agent_state_at=uow.now)
        .execution_options(synchronize_session=False)
    )
    for agent_id in agents:
        uow.emit(
            LiveEvent.of(
                [agent_topic(account_id, agent_id), supervisor_topic(account_id)],
                {"type": "agent.state", "agentId": str(agent_id), "state": AgentState.AWAY},
            )
        )
    await session.flush()
    await assign_waiting(uow, account_id)
    return [c.id for c in lapsed]
