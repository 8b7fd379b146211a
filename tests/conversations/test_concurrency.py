"""Races the database must settle: a consumer's two first messages at once open one
conversation; twenty consumers writing at once never give an agent more than their maximum."""

from __future__ import annotations

import asyncio

import pytest

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
