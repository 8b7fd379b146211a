"""HTTP routes of the agent workspace under ``/api/account/{accountId}/agent/``.

Agents, bots (with their own credentials) and agent managers use the same routes; each is
limited per user (``PARLAY_AGENT_RATE_LIMIT_PER_SECOND``), not per account.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse

from parlay.accounts.permissions import Permission, Principal
from parlay.api.deps import ServicesDep, require
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath
from parlay.api.schemas.conversations import (
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
from parlay.api.streams import live_stream
from parlay.api.strict_json import api_router
from parlay.conversations import usecases
from parlay.lib.ratelimit import ApiFamily

router = api_router(prefix="/api/account/{accountId}/agent", tags=["agent"])
Workspace = Annotated[Principal, require(Permission.AGENT_WORKSPACE, ApiFamily.AGENT)]
ConversationIdPath = Annotated[
    str, Path(min_length=1, max_length=36, description="The conversation's ID.")
]


@router.get("/state", operation_id="getAgentState", response_model=AgentStatusOut)
async def get_state(accountId: AccountIdPath, s: ServicesDep, me: Workspace) -> AgentStatusOut:
    """My routing state, skills, maximum and current load."""
    return AgentStatusOut.model_validate(await usecases.agent_status(s.tx, me))


@router.put("/state", operation_id="setAgentState", response_model=AgentStatusOut)
async def set_state(
    accountId: AccountIdPath, body: StateIn, s: ServicesDep, me: Workspace
) -> AgentStatusOut:
    """ONLINE receives routed conversations (waiting ones at once); AWAY and OFFLINE keep what
    they have and receive nothing new."""
    return AgentStatusOut.model_validate(await usecases.set_agent_state(s.tx, me, body.state))


@router.get("/conversations", operation_id="listMyConversations", response_model=ConversationList)
async def my_conversations(
    accountId: AccountIdPath,
    s: ServicesDep,
    me: Workspace,
    state: Annotated[
        Literal["OPEN", "CLOSED"],
        Query(description="OPEN: my open conversations. CLOSED: those I handled, paged."),
    ] = "OPEN",
    cursor: Annotated[
        str | None, Query(max_length=128, description="nextCursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="CLOSED: conversations per page.")] = 50,
) -> ConversationList:
    """My open conversations, in the order they were assigned; or (``state=CLOSED``) the closed
    ones I handled, every closed one for an agent manager, newest closed first, a page at a time."""
    page = await usecases.list_conversations(s.tx, me, state=state, cursor=cursor, limit=limit)
    return ConversationList(
        conversations=[ConversationSummary.model_validate(r) for r in page.conversations],
        next_cursor=page.next_cursor,
    )


@router.get("/queue", operation_id="listQueue", response_model=QueueList)
async def queue(accountId: AccountIdPath, s: ServicesDep, me: Workspace) -> QueueList:
    """Conversations waiting in my skills' queues (every queue for an agent manager)."""
    return QueueList.model_validate({"queue": await usecases.agent_queue(s.tx, me)})


@router.get(
    "/conversations/{conversationId}",
    operation_id="getAgentConversation",
    response_model=AgentConversationOut,
)
async def get_conversation(
    accountId: AccountIdPath, conversationId: ConversationIdPath, s: ServicesDep, me: Workspace
) -> AgentConversationOut:
    """The conversation with its context, the outbound messages, and every message."""
    view = await usecases.agent_conversation(s.tx, s.origins, me, conversationId)
    return AgentConversationOut.model_validate(view)


@router.post(
    "/conversations/{conversationId}/accept",
    operation_id="acceptConversation",
    responses=problems(409),
    response_model=ConversationSummary,
)
async def accept(
    accountId: AccountIdPath, conversationId: ConversationIdPath, s: ServicesDep, me: Workspace
) -> ConversationSummary:
    """Accept a conversation assigned to me, or take one from my skills' queues."""
    return ConversationSummary.model_validate(await usecases.accept(s.tx, me, conversationId))


@router.post(
    "/conversations/{conversationId}/messages",
    operation_id="replyToConversation",
    responses=problems(409),
    response_model=MessageOut,
    status_code=201,
)
async def reply(
    accountId: AccountIdPath,
    conversationId: ConversationIdPath,
    body: AgentMessageIn,
    s: ServicesDep,
    me: Workspace,
) -> MessageOut:
    """Write to the consumer (the conversation must be assigned to me)."""
    return MessageOut.model_validate(await usecases.reply(s.tx, me, conversationId, body.text))


@router.post(
    "/conversations/{conversationId}/transfer",
    operation_id="transferConversation",
    responses=problems(409),
    response_model=ConversationSummary,
)
async def transfer(
    accountId: AccountIdPath,
    conversationId: ConversationIdPath,
    body: TransferIn,
    s: ServicesDep,
    me: Workspace,
) -> ConversationSummary:
    """Send it to the back of another skill's queue (mine, or any as an agent manager)."""
    summary = await usecases.transfer(s.tx, me, conversationId, body.skill)
    return ConversationSummary.model_validate(summary)


@router.post(
    "/conversations/{conversationId}/close",
    operation_id="closeConversation",
    responses=problems(409),
    response_model=ConversationSummary,
)
async def close(
    accountId: AccountIdPath, conversationId: ConversationIdPath, s: ServicesDep, me: Workspace
) -> ConversationSummary:
    """End the conversation (mine, or any as an agent manager); closing twice is harmless."""
    return ConversationSummary.model_validate(await usecases.close(s.tx, me, conversationId))


@router.get(
    "/events",
    operation_id="agentEvents",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    accountId: AccountIdPath, request: Request, s: ServicesDep, me: Workspace
) -> StreamingResponse:
    """Server-sent events: conversations assigned to me and their consumers' messages, my
    skills' queue changes (every queue and conversation for an agent manager). The topics are
    fixed when the stream opens: reconnect after a change of skills."""
    subscriber = f"user:{me.account_id}/{me.subject_id}"
    return live_stream(s, subscriber, await usecases.agent_topics(s.tx, me), request)
