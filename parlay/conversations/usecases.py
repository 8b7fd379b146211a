"""The conversation use cases, one unit of work each: what a consumer and an agent may do.

The JSON API and the web pages call these; they never open a transaction themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from parlay.accounts.permissions import Principal
from parlay.consumers.auth import ConsumerIdentity
from parlay.consumers.identities import phone_of
from parlay.conversations import assignment, history, ratings, routing, topics, workspace
from parlay.conversations.context import pick_device
from parlay.conversations.models import OPEN
from parlay.conversations.views import (
    AgentConversation,
    AgentStatus,
    ConsumerConversation,
    ConversationSummary,
    MessageView,
    QueueEntry,
)
from parlay.conversations.workspace import Agent, AgentLoad
from parlay.delivery.origins import Origins
from parlay.lib.db.uow import Transactions, UnitOfWork
from parlay.lib.errors import invalid_field

T = TypeVar("T")


# --- the consumer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    conversation_id: str
    message: MessageView


async def consumer_writes(
    tx: Transactions, origins: Origins, me: ConsumerIdentity, text: str, device_id: str | None
) -> Posted:
    """The consumer writes: into their open conversation, or one opened and routed now."""
    async with tx.write() as uow:
        written = await routing.consumer_writes(
            uow,
            account_id=me.account_id,
            consumer_id=me.consumer_id,
            channel="inapp",
            text=text,
            device_id=device_id,
            origins=origins,
        )
        return Posted(written.conversation.id, MessageView.of(written.message))


async def consumer_conversation(tx: Transactions, me: ConsumerIdentity) -> ConsumerConversation:
    """The consumer's open conversation, else their most recent one."""
    async with tx.read() as uow:
        phone = await phone_of(uow.session, me.account_id, me.consumer_id)
        return await workspace.consumer_conversation(
            uow.session, me.account_id, me.consumer_id, phone
        )


@dataclass(frozen=True)
class ConsumerStream:
    """What the consumer's live stream listens to, and the presence key of the device holding it
    (None: the stream named no device, and marks none)."""

    topics: list[str]
    presence: str | None


async def consumer_stream(
    tx: Transactions, me: ConsumerIdentity, device_id: str | None
) -> ConsumerStream:
    """The consumer's live stream, held by ``device_id`` when given: a registered device of
    theirs (else 400), which agents' pushes then skip while the stream is open."""
    async with tx.read() as uow:
        phone = await phone_of(uow.session, me.account_id, me.consumer_id)
        if device_id is not None:
            device = await pick_device(uow.session, me.account_id, me.consumer_id, device_id)
            if device is None:
                raise invalid_field("deviceId", f"no device {device_id!r} of this consumer")
    return ConsumerStream(
        topics.consumer_topics(me.account_id, me.consumer_id, phone),
        topics.device_presence(me.account_id, me.consumer_id, device_id)
        if device_id is not None
        else None,
    )


@dataclass(frozen=True)
class Rating:
    conversation_id: str
    score: int


async def rate_conversation(
    tx: Transactions, me: ConsumerIdentity, conversation_id: str, score: int
) -> Rating:
    """The consumer rates their closed conversation, 1-5, once."""
    async with tx.write() as uow:
        phone = await phone_of(uow.session, me.account_id, me.consumer_id)
        c = await ratings.rate(
            uow.session, me.account_id, me.consumer_id, phone, conversation_id, score, uow.now
        )
        return Rating(c.id, score)


# --- agents and bots --------------------------------------------------------------------


async def _as_agent(
    tx: Transactions, me: Principal, work: Callable[[UnitOfWork, Agent], Awaitable[T]]
) -> T:
    """One change of the workspace, as the calling agent, in one unit of work."""
    async with tx.write() as uow:
        agent = await workspace.load_agent(uow.session, me)
        return await work(uow, agent)


async def agent_status(tx: Transactions, me: Principal) -> AgentStatus:
    async with tx.read() as uow:
        agent = await workspace.load_agent(uow.session, me)
        return await workspace.agent_status(uow.session, agent)


async def set_agent_state(tx: Transactions, me: Principal, state: str) -> AgentStatus:
    async def work(uow: UnitOfWork, agent: Agent) -> AgentStatus:
        agent = await workspace.set_state(uow, agent, state)
        return await workspace.agent_status(uow.session, agent)

    return await _as_agent(tx, me, work)


async def list_conversations(
    tx: Transactions, me: Principal, *, state: str, cursor: str | None, limit: int
) -> history.ConversationPage:
    """OPEN: my open conversations (one page). CLOSED: those I handled (every one, for an agent
    manager), newest closed first, a page at a time."""
    async with tx.read() as uow:
        agent = await workspace.load_agent(uow.session, me)
        if state == OPEN:
            mine = await workspace.my_conversations(uow.session, agent)
            return history.ConversationPage(mine, None)
        return await history.closed_conversations(uow.session, agent, cursor=cursor, limit=limit)


async def agent_queue(tx: Transactions, me: Principal) -> list[QueueEntry]:
    async with tx.read() as uow:
        agent = await workspace.load_agent(uow.session, me)
        return await workspace.queue(uow.session, agent)


async def agents_overview(tx: Transactions, me: Principal) -> list[AgentLoad]:
    """Every agent of the caller's account with state and load (agent managers)."""
    async with tx.read() as uow:
        return await workspace.agents_overview(uow.session, me.account_id)


async def agent_conversation(
    tx: Transactions, origins: Origins, me: Principal, conversation_id: str
) -> AgentConversation:
    async with tx.read() as uow:
        agent = await workspace.load_agent(uow.session, me)
        return await workspace.get_conversation(uow, agent, conversation_id, origins)


async def accept(tx: Transactions, me: Principal, conversation_id: str) -> ConversationSummary:
    async def work(uow: UnitOfWork, agent: Agent) -> ConversationSummary:
        return ConversationSummary.of(await workspace.accept(uow, agent, conversation_id))

    return await _as_agent(tx, me, work)


async def reply(tx: Transactions, me: Principal, conversation_id: str, text: str) -> MessageView:
    async def work(uow: UnitOfWork, agent: Agent) -> MessageView:
        return MessageView.of(await workspace.reply(uow, agent, conversation_id, text))

    return await _as_agent(tx, me, work)


async def transfer(
    tx: Transactions, me: Principal, conversation_id: str, skill: str
) -> ConversationSummary:
    async def work(uow: UnitOfWork, agent: Agent) -> ConversationSummary:
        return ConversationSummary.of(await workspace.transfer(uow, agent, conversation_id, skill))

    return await _as_agent(tx, me, work)


async def close(tx: Transactions, me: Principal, conversation_id: str) -> ConversationSummary:
    async def work(uow: UnitOfWork, agent: Agent) -> ConversationSummary:
        return ConversationSummary.of(await workspace.close(uow, agent, conversation_id))

    return await _as_agent(tx, me, work)


async def agent_topics(tx: Transactions, me: Principal) -> Sequence[str]:
    """What the agent's live stream listens to (fixed when it opens)."""
    async with tx.read() as uow:
        agent = await workspace.load_agent(uow.session, me)
    return workspace.agent_topics(agent)


# --- the engine -------------------------------------------------------------------------


async def assign_waiting(tx: Transactions, account_id: str) -> None:
    """Run the account's assignment again (an agent's skills or maximum changed)."""
    async with tx.write() as uow:
        await assignment.assign_waiting(uow, account_id)


async def requeue_lapsed(tx: Transactions, accept_within: timedelta) -> list[str]:
    """Take back every conversation assigned longer than ``accept_within`` ago and not accepted
    (one unit of work per account); returns their IDs."""
    async with tx.read() as uow:
        before = uow.now - accept_within
        accounts = await assignment.accounts_with_lapsed(uow.session, before)
    taken: list[str] = []
    for account_id in accounts:
        async with tx.write() as uow:
            taken += await assignment.requeue_lapsed(uow, account_id, uow.now - accept_within)
    return taken
