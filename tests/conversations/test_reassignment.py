"""Assignment runs again when an agent lets a conversation lapse, and when an admin changes what
an agent may be routed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parlay.conversations import usecases
from tests.conversations.support import Desk

pytestmark = pytest.mark.anyio

ACCEPT_WITHIN = timedelta(minutes=2)


async def test_an_assigned_conversation_nobody_accepts_in_time_goes_back_and_the_agent_away(
    desk: Desk,
) -> None:
    await desk.settings(defaultSkill="general")
    sleepy = await desk.agent("general", maximum=2)
    await sleepy.state("ONLINE")
    first = await desk.says("ana", "hello")
    desk.advance(minutes=1)
    second = await desk.says("bo", "hello")
    assert await sleepy.conversations() == [first, second]
    assert (await sleepy.accept(second)).status_code == 200
    tx = desk.brand.container.tx

    desk.advance(seconds=61)  # the first was assigned 2 min 1 s ago, the second 1 min 1 s ago
    later = await desk.says("cy", "me too")  # queued after the first left the queue
    assert await usecases.requeue_lapsed(tx, ACCEPT_WITHIN) == [first]

    # The accepted one stays; the lapsed one waits ahead of what was queued after it left.
    assert await sleepy.conversations() == [second]
    assert [q["conversationId"] for q in await sleepy.queue()] == [first, later]
    assert (await sleepy.ok("GET", "/state"))["state"] == "AWAY"
    # Another agent coming online takes it first.
    awake = await desk.agent("general")
    await awake.state("ONLINE")
    assert await awake.conversations() == [first, later]
    # Nothing else lapsed: running again takes nothing back.
    assert await usecases.requeue_lapsed(tx, ACCEPT_WITHIN) == []


async def test_writing_counts_as_accepting(desk: Desk) -> None:
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    conversation = await desk.says("ana", "hello")
    assert (await agent.reply(conversation, "Hi Ana")).status_code == 201
    desk.advance(minutes=5)
    assert await usecases.requeue_lapsed(desk.brand.container.tx, ACCEPT_WITHIN) == []
    assert await agent.conversations() == [conversation]


async def test_changing_an_agents_skills_or_maximum_assigns_waiting_conversations_at_once(
    desk: Desk,
) -> None:
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("billing", maximum=1)
    await agent.state("ONLINE")
    first = await desk.says("ana", "hello")
    desk.advance(minutes=1)
    second = await desk.says("bo", "hello")
    assert await agent.conversations() == []

    async def change(**fields: object) -> None:
        response = await desk.brand.client.patch(
            f"{desk.brand.url}/users/{agent.user_id}", json=fields, headers=desk.brand.admin
        )
        assert response.status_code == 200, response.text

    await change(skills=["billing", "general"])
    assert await agent.conversations() == [first]
    await change(maxConcurrentConversations=2)
    assert await agent.conversations() == [first, second]
