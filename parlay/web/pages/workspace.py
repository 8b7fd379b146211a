"""The agent workspace: my state, my conversations and my skills' queues, one conversation with
its context panel, and accept, reply, transfer and close. Agent managers also see every queue
and every agent's state and load.

The same use cases as the agent JSON API (``parlay.conversations.usecases``); the page stays
current through the agent's live event stream, which ``/app/workspace/events`` serves to the
browser with the session's cookie (``static/workspace.js`` listens and re-renders the parts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.responses import Response

from parlay.accounts import usecases as accounts
from parlay.accounts.permissions import Permission, Principal
from parlay.api.schemas.conversations import AgentMessageIn, StateIn
from parlay.api.streams import live_stream
from parlay.conversations import usecases
from parlay.conversations.assignment import AgentState
from parlay.conversations.models import OPEN
from parlay.conversations.views import ConversationSummary
from parlay.lib.db.uow import Transactions
from parlay.lib.errors import NotFound, ParlayError
from parlay.web.auth import Viewer, page, services_of
from parlay.web.templating import render

router = APIRouter()
Agent = Annotated[Viewer, page(Permission.AGENT_WORKSPACE)]
ConversationId = Annotated[str, Path(min_length=1, max_length=36)]


async def _mine(tx: Transactions, me: Principal) -> Sequence[ConversationSummary]:
    """My open conversations (the agent API's ``GET conversations``)."""
    page = await usecases.list_conversations(tx, me, state=OPEN, cursor=None, limit=50)
    return page.conversations


async def _panels(request: Request, viewer: Viewer) -> dict[str, Any]:
    """My state, my conversations, the queues I see, and (managers) every agent."""
    tx, me = services_of(request).tx, viewer.principal
    supervisor = viewer.can(Permission.AGENT_SUPERVISE)
    return {
        "status": await usecases.agent_status(tx, me),
        "mine": await _mine(tx, me),
        "queue": await usecases.agent_queue(tx, me),
        "agents": await usecases.agents_overview(tx, me) if supervisor else None,
        "supervisor": supervisor,
        "states": AgentState.ALL,
    }


async def _conversation(
    request: Request,
    viewer: Viewer,
    conversation_id: str,
    *,
    error: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One conversation as the agent API shows it, and what the viewer may do with it."""
    services, me = services_of(request), viewer.principal
    try:
        view = await usecases.agent_conversation(services.tx, services.origins, me, conversation_id)
    except NotFound:
        # Transferred to a skill I do not hold, or never mine to see.
        return {
            "conversation": None,
            "conversation_id": conversation_id,
            "error": error,
            "note": note or "This conversation is no longer yours to see.",
        }
    mine = {c.conversation_id: c for c in await _mine(services.tx, me)}
    summary = mine.get(conversation_id)
    is_open = view.state == OPEN
    assigned_to_me = summary is not None
    # Which buttons to offer; the use cases decide, and refuse, all the same.
    return {
        "conversation": view,
        "conversation_id": conversation_id,
        "is_open": is_open,
        "assigned_to_me": assigned_to_me,
        "can_accept": is_open
        and (view.assigned_agent is None or (summary is not None and summary.accepted_at is None)),
        "can_write": is_open and assigned_to_me,
        "can_hand_on": is_open and (assigned_to_me or viewer.can(Permission.AGENT_SUPERVISE)),
        "skills": [s.name for s in await accounts.list_skills(services.tx, me.account_id)],
        "error": error,
        "note": note,
    }


@router.get("/workspace", name="web_workspace")
async def workspace(
    request: Request,
    viewer: Agent,
    c: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
) -> Response:
    context = await _panels(request, viewer)
    if c is not None:
        context |= await _conversation(request, viewer, c)
    context["open_id"] = c
    return render(request, "workspace/page.html", context)


@router.get("/workspace/panels", name="web_workspace_panels")
async def panels(request: Request, viewer: Agent) -> Response:
    return render(request, "workspace/_panels.html", await _panels(request, viewer))


@router.post("/workspace/state", name="web_workspace_state")
async def set_state(
    request: Request, viewer: Agent, state: Annotated[str, Form()] = ""
) -> Response:
    try:
        body = StateIn.model_validate({"state": state})
    except ValidationError:
        context = await _panels(request, viewer)
        context["state_error"] = "Choose ONLINE, AWAY or OFFLINE."
        return render(request, "workspace/_panels.html", context, status=400)
    await usecases.set_agent_state(services_of(request).tx, viewer.principal, body.state)
    return render(request, "workspace/_panels.html", await _panels(request, viewer))


@router.get("/workspace/conversations/{conversation_id}", name="web_workspace_conversation")
async def conversation(
    request: Request, viewer: Agent, conversation_id: ConversationId
) -> Response:
    context = await _conversation(request, viewer, conversation_id)
    return render(request, "workspace/_conversation.html", context)


async def _act(
    request: Request,
    viewer: Viewer,
    conversation_id: str,
    action: Callable[[], Awaitable[object]],
    done: str | None = None,
) -> Response:
    """Run an action on the conversation; answer the conversation re-rendered, with the
    refusal (a 4xx) beside it when the use case refused."""
    try:
        await action()
    except ParlayError as exc:
        context = await _conversation(request, viewer, conversation_id, error=exc.detail)
        return render(request, "workspace/_conversation.html", context, status=exc.status)
    context = await _conversation(request, viewer, conversation_id, note=done)
    return render(request, "workspace/_conversation.html", context)


@router.post("/workspace/conversations/{conversation_id}/accept", name="web_workspace_accept")
async def accept(request: Request, viewer: Agent, conversation_id: ConversationId) -> Response:
    tx = services_of(request).tx
    return await _act(
        request,
        viewer,
        conversation_id,
        lambda: usecases.accept(tx, viewer.principal, conversation_id),
    )


@router.post("/workspace/conversations/{conversation_id}/messages", name="web_workspace_reply")
async def reply(
    request: Request,
    viewer: Agent,
    conversation_id: ConversationId,
    text: Annotated[str, Form()] = "",
) -> Response:
    try:
        body = AgentMessageIn.model_validate({"text": text})
    except ValidationError:
        error = "Write 1 to 1,000 characters of text and emoji."
        context = await _conversation(request, viewer, conversation_id, error=error)
        return render(request, "workspace/_conversation.html", context, status=400)
    tx = services_of(request).tx
    return await _act(
        request,
        viewer,
        conversation_id,
        lambda: usecases.reply(tx, viewer.principal, conversation_id, body.text),
    )


@router.post("/workspace/conversations/{conversation_id}/transfer", name="web_workspace_transfer")
async def transfer(
    request: Request,
    viewer: Agent,
    conversation_id: ConversationId,
    skill: Annotated[str, Form()] = "",
) -> Response:
    tx = services_of(request).tx
    return await _act(
        request,
        viewer,
        conversation_id,
        lambda: usecases.transfer(tx, viewer.principal, conversation_id, skill),
        done=f"Transferred to {skill}.",
    )


@router.post("/workspace/conversations/{conversation_id}/close", name="web_workspace_close")
async def close(request: Request, viewer: Agent, conversation_id: ConversationId) -> Response:
    tx = services_of(request).tx
    return await _act(
        request,
        viewer,
        conversation_id,
        lambda: usecases.close(tx, viewer.principal, conversation_id),
        done="Closed.",
    )


@router.get("/workspace/events", name="web_workspace_events")
async def events(request: Request, viewer: Agent) -> StreamingResponse:
    """The agent's live stream (the agent API's ``GET agent/events``) for the signed-in user."""
    services, me = services_of(request), viewer.principal
    subscriber = f"user:{me.account_id}/{me.subject_id}"
    return live_stream(services, subscriber, await usecases.agent_topics(services.tx, me), request)
