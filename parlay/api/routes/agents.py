"""HTTP routes of the agent workspace (SPEC §10) under ``/api/account/{accountId}/agent/``.

Agents, bots (with their own credentials) and agent managers use the same routes; each is
limited per user (``PARLAY_AGENT_RATE_LIMIT_PER_SECOND``), not per account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ContainerDep, require
from parlay.api.params import AccountIdPath
from parlay.bootstrap import Container
from parlay.conversations import service
from parlay.conversations.routing import message_view
from parlay.conversations.schemas import (
    AgentConversationOut,
    AgentMessageIn,
    AgentStatusOut,
    ConversationList,
    ConversationSummary,
    MessageOut,
    QueueList,
    StateIn,
    TransferIn,
)
from parlay.conversations.streams import live_stream
from parlay.conversations.topics import Outbox
from parlay.ratelimit.limiter import ApiFamily

router = APIRouter(prefix="/api/account/{accountId}/agent", tags=["agent"])
Workspace = Annotated[Principal, require(Permission.AGENT_WORKSPACE, ApiFamily.AGENT)]
ConversationIdPath = Annotated[str, Path(min_length=1, max_length=36)]
T = TypeVar("T")


async def _as_agent(
    c: Container,
    me: Principal,
    work: Callable[[AsyncSession, service.Agent, datetime, Outbox], Awaitable[T]],
) -> T:
    """Run one change of the workspace in a write transaction; its live events go out once it
    has committed."""
    outbox = Outbox()
    async with c.db.write() as session:
        agent = await service.load_agent(session, me)
        result = await work(session, agent, c.clock.now(), outbox)
    await outbox.publish(c.hub)
    return result


@router.get("/state", operation_id="getAgentState", response_model=AgentStatusOut)
async def get_state(accountId: AccountIdPath, c: ContainerDep, me: Workspace) -> AgentStatusOut:
    """My routing state, skills, maximum and current load."""
    async with c.db.read() as session:
        agent = await service.load_agent(session, me)
        return AgentStatusOut.model_validate(await service.agent_status(session, agent))


@router.put("/state", operation_id="setAgentState", response_model=AgentStatusOut)
async def set_state(
    accountId: AccountIdPath, body: StateIn, c: ContainerDep, me: Workspace
) -> AgentStatusOut:
    """ONLINE receives routed conversations (waiting ones at once); AWAY and OFFLINE keep what
    they have and receive nothing new."""

    async def work(
        session: AsyncSession, agent: service.Agent, now: datetime, outbox: Outbox
    ) -> dict[str, Any]:
        agent = await service.set_state(session, agent, body.state, now, outbox)
        return await service.agent_status(session, agent)

    return AgentStatusOut.model_validate(await _as_agent(c, me, work))


@router.get("/conversations", operation_id="listMyConversations", response_model=ConversationList)
async def my_conversations(
    accountId: AccountIdPath, c: ContainerDep, me: Workspace
) -> ConversationList:
    """My open conversations, in the order they were assigned."""
    async with c.db.read() as session:
        agent = await service.load_agent(session, me)
        rows = await service.my_conversations(session, agent)
    return ConversationList(conversations=[ConversationSummary.model_validate(r) for r in rows])


@router.get("/queue", operation_id="listQueue", response_model=QueueList)
async def queue(accountId: AccountIdPath, c: ContainerDep, me: Workspace) -> QueueList:
    """Conversations waiting in my skills' queues (every queue for an agent manager)."""
    async with c.db.read() as session:
        agent = await service.load_agent(session, me)
        rows = await service.queue(session, agent)
    return QueueList.model_validate({"queue": rows})


@router.get(
    "/conversations/{conversationId}",
    operation_id="getAgentConversation",
    response_model=AgentConversationOut,
)
async def get_conversation(
    accountId: AccountIdPath, conversationId: ConversationIdPath, c: ContainerDep, me: Workspace
) -> AgentConversationOut:
    """The conversation with its context, the outbound messages, and every message."""
    async with c.db.read() as session:
        agent = await service.load_agent(session, me)
        view = await service.get_conversation(
            session, agent, conversationId, c.contexts, c.clock.now()
        )
    return AgentConversationOut.model_validate(view)


@router.post(
    "/conversations/{conversationId}/accept",
    operation_id="acceptConversation",
    response_model=ConversationSummary,
)
async def accept(
    accountId: AccountIdPath, conversationId: ConversationIdPath, c: ContainerDep, me: Workspace
) -> ConversationSummary:
    """Accept a conversation assigned to me, or take one from my skills' queues."""

    async def work(
        session: AsyncSession, agent: service.Agent, now: datetime, outbox: Outbox
    ) -> dict[str, Any]:
        return service.summary(await service.accept(session, agent, conversationId, now, outbox))

    return ConversationSummary.model_validate(await _as_agent(c, me, work))


@router.post(
    "/conversations/{conversationId}/messages",
    operation_id="replyToConversation",
    response_model=MessageOut,
    status_code=201,
)
async def reply(
    accountId: AccountIdPath,
    conversationId: ConversationIdPath,
    body: AgentMessageIn,
    c: ContainerDep,
    me: Workspace,
) -> MessageOut:
    """Write to the consumer (the conversation must be assigned to me)."""

    async def work(
        session: AsyncSession, agent: service.Agent, now: datetime, outbox: Outbox
    ) -> dict[str, Any]:
        return message_view(
            await service.reply(session, agent, conversationId, body.text, now, outbox)
        )

    return MessageOut.model_validate(await _as_agent(c, me, work))


@router.post(
    "/conversations/{conversationId}/transfer",
    operation_id="transferConversation",
    response_model=ConversationSummary,
)
async def transfer(
    accountId: AccountIdPath,
    conversationId: ConversationIdPath,
    body: TransferIn,
    c: ContainerDep,
    me: Workspace,
) -> ConversationSummary:
    """Send it to the back of another skill's queue (mine, or any as an agent manager)."""

    async def work(
        session: AsyncSession, agent: service.Agent, now: datetime, outbox: Outbox
    ) -> dict[str, Any]:
        return service.summary(
            await service.transfer(session, agent, conversationId, body.skill, now, outbox)
        )

    return ConversationSummary.model_validate(await _as_agent(c, me, work))


@router.post(
    "/conversations/{conversationId}/close",
    operation_id="closeConversation",
    response_model=ConversationSummary,
)
async def close(
    accountId: AccountIdPath, conversationId: ConversationIdPath, c: ContainerDep, me: Workspace
) -> ConversationSummary:
    """End the conversation (mine, or any as an agent manager); closing twice is harmless."""

    async def work(
        session: AsyncSession, agent: service.Agent, now: datetime, outbox: Outbox
    ) -> dict[str, Any]:
        return service.summary(await service.close(session, agent, conversationId, now, outbox))

    return ConversationSummary.model_validate(await _as_agent(c, me, work))


@router.get(
    "/events",
    operation_id="agentEvents",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    accountId: AccountIdPath, request: Request, c: ContainerDep, me: Workspace
) -> StreamingResponse:
    """Server-sent events: conversations assigned to me and their consumers' messages, my
    skills' queue changes (every queue and conversation for an agent manager). The topics are
    fixed when the stream opens: reconnect after a change of skills."""
    async with c.db.read() as session:
        agent = await service.load_agent(session, me)
    return live_stream(c, service.agent_topics(agent), request)
