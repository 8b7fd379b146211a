"""Races the database must settle: a consumer's two first messages at once open one
conversation; twenty consumers writing at once never give an agent more than their maximum."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from parlay.conversations import routing
from parlay.conversations.models import Conversation
from tests.conversations.support import Desk

pytestmark = pytest.mark.anyio


async def test_two_first_messages_at_once_open_one_conversation(desk: Desk) -> None:
    await desk.settings(defaultSkill="general")
    responses = await asyncio.gather(*(desk.write("ana", f"message {i}") for i in range(5)))
    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.json()["conversationId"] for r in responses}) == 1
    [conversation] = await desk.conversations()
    view = (await desk.consumer_view("ana")).json()
    assert sorted(m["text"] for m in view["messages"]) == [f"message {i}" for i in range(5)]
    assert conversation.state == "OPEN"


async def test_twenty_consumers_at_once_never_overload_an_agent(desk: Desk) -> None:
    await desk.settings(defaultSkill="general")
    agents = [await desk.agent("general", maximum=3) for _ in range(3)]
    for agent in agents:
        await agent.state("ONLINE")

    responses = await asyncio.gather(*(desk.write(f"c{i}", "hi") for i in range(20)))

    assert [r.status_code for r in responses] == [201] * 20
    loads = [len(await a.conversations()) for a in agents]
    assert loads == [3, 3, 3]
    assert len(await agents[0].queue()) == 11


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_message_racing_a_close_opens_a_new_conversation(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only: SQLite runs one write at a time, so nothing can come between."""
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("general", maximum=3)
    await agent.state("ONLINE")
    first = await desk.says("ana", "hello")
    find = routing.open_conversation_of

    async def found_then_closed(*args: Any) -> Conversation | None:
        # The close commits just after this message found the conversation open.
        conversation = await find(*args)
        if conversation is not None and conversation.id == first:
            assert (await agent.close(first)).status_code == 200
        return conversation

    monkeypatch.setattr(routing, "open_conversation_of", found_then_closed)

    second = await desk.says("ana", "are you there?")

    assert second != first
    closed = (await agent.get(first))["messages"]
    assert [m["text"] for m in closed if m["sender"] == "consumer"] == ["hello"]
    assert (await desk.conversation(second)).state == "OPEN"
