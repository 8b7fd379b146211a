"""Agents and bots — state, FIFO queues per skill, assignment to the least-loaded
ONLINE agent below their maximum, accept, reply, transfer, close."""

from __future__ import annotations

import pytest

from tests.conftest import problem
from tests.conversations.support import AgentClient, Desk

pytestmark = pytest.mark.anyio


async def open_conversations(desk: Desk, n: int, *, skill_of: str = "general") -> list[str]:
    """``n`` consumers write one after another (a minute apart): n conversations on the
    default skill, in this order."""
    await desk.settings(defaultSkill=skill_of)
    ids = []
    for i in range(n):
        ids.append(await desk.says(f"consumer-{i:02}", f"hello from {i}"))
        desk.advance(minutes=1)
    return ids


async def test_twenty_conversations_three_agents_of_three_the_rest_wait_in_order(
    desk: Desk,
) -> None:
    agents = [await desk.agent("general", maximum=3) for _ in range(3)]
    for agent in agents:
        await agent.state("ONLINE")

    ids = await open_conversations(desk, 20)

    # The first nine were assigned as they arrived, spread evenly: 3 each.
    mine = {a.user_id: await a.conversations() for a in agents}
    assert sorted(len(c) for c in mine.values()) == [3, 3, 3]
    assert sorted(c for cs in mine.values() for c in cs) == sorted(ids[:9])
    # Least-loaded first: the first three went to three different agents.
    assert {next(a for a, cs in mine.items() if c in cs) for c in ids[:3]} == set(mine)
    # The other eleven wait in arrival order.
    queue = await agents[0].queue()
    assert [q["conversationId"] for q in queue] == ids[9:]
    assert [q["position"] for q in queue] == list(range(1, 12))

    # As agents free up, the oldest waiting conversation goes next, to whoever has room.
    freed = agents[1]
    assert (await freed.close((await freed.conversations())[0])).status_code == 200
    assert ids[9] in await freed.conversations()
    assert (await agents[2].close((await agents[2].conversations())[1])).status_code == 200
    assert ids[10] in await agents[2].conversations()
    assert [q["conversationId"] for q in await agents[0].queue()] == ids[11:]


async def test_an_agent_coming_online_takes_the_oldest_waiting_up_to_their_maximum(
    desk: Desk,
) -> None:
    ids = await open_conversations(desk, 5)
    agent = await desk.agent("general", maximum=2)
    assert await agent.conversations() == []
    status = await agent.state("ONLINE")
    assert await agent.conversations() == ids[:2]
    assert (await agent.ok("GET", "/state"))["openConversations"] == 2
    assert status["state"] == "ONLINE"


async def test_away_and_offline_agents_get_nothing_new_but_keep_what_they_have(
    desk: Desk,
) -> None:
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    first, second = await open_conversations(desk, 2)
    assert await agent.conversations() == [first, second]
    await agent.state("AWAY")
    third = await desk.says("late", "hi")
    assert await agent.conversations() == [first, second]
    assert [q["conversationId"] for q in await agent.queue()] == [third]


async def test_only_agents_of_the_skill_get_its_conversations(desk: Desk) -> None:
    billing = await desk.agent("billing")
    await billing.state("ONLINE")
    [general_one] = await open_conversations(desk, 1)
    assert await billing.conversations() == []
    # Agents see only their skills' queues; an agent manager sees every queue.
    assert await billing.queue() == []
    manager = await desk.agent(roles=("agent_manager",))
    assert [q["conversationId"] for q in await manager.queue()] == [general_one]
    # An agent manager is not an agent: nothing is assigned to them.
    await manager.state("ONLINE")
    assert await manager.conversations() == []


async def test_agents_cannot_open_a_conversation_outside_their_skills(desk: Desk) -> None:
    billing = await desk.agent("billing")
    [general_one] = await open_conversations(desk, 1)
    response = await billing.call("GET", f"/conversations/{general_one}")
    assert response.status_code == 404
    assert problem(response)["errorCode"] == 1004
    assert (await billing.accept(general_one)).status_code == 404


async def test_accept_takes_a_waiting_conversation_or_confirms_an_assigned_one(
    desk: Desk,
) -> None:
    first, second = await open_conversations(desk, 2)
    taker = await desk.agent("general", maximum=1)
    response = await taker.accept(second)  # out of order, by choice
    assert response.status_code == 200, response.text
    assert response.json()["assignedAgent"] == taker.user_id
    assert response.json()["acceptedAt"] is not None
    assert await taker.conversations() == [second]
    # At the maximum: no more.
    full = await taker.accept(first)
    assert full.status_code == 409
    # Someone else's conversation cannot be taken.
    other = await desk.agent("general")
    assert (await other.accept(second)).status_code == 409
    # Accepting mine again is harmless.
    assert (await taker.accept(second)).status_code == 200


async def test_reply_reaches_the_consumers_conversation_and_only_the_assignee_may_write(
    desk: Desk,
) -> None:
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    [conversation_id] = await open_conversations(desk, 1)
    response = await agent.reply(conversation_id, "Hi! How can I help? 😊")
    assert response.status_code == 201, response.text
    assert response.json()["sender"] == "agent"

    stranger = await desk.agent("general")
    refused = await stranger.reply(conversation_id, "me too")
    assert refused.status_code == 409

    view = (await desk.consumer_view("consumer-00")).json()
    assert [(m["sender"], m["text"]) for m in view["messages"]] == [
        ("consumer", "hello from 0"),
        ("agent", "Hi! How can I help? 😊"),
    ]
    # Replying accepted the conversation.
    assert (await desk.conversation(conversation_id)).accepted_at is not None


async def test_bots_use_the_same_api_and_write_as_bot(desk: Desk) -> None:
    bot = await desk.agent("general", type="bot", maximum=50)
    await bot.state("ONLINE")
    ids = await open_conversations(desk, 4)
    assert await bot.conversations() == ids
    response = await bot.reply(ids[0], "I am the Acme assistant.")
    assert response.status_code == 201
    assert response.json()["sender"] == "bot"
    assert (await bot.transfer(ids[0], "billing")).status_code == 200
    assert await bot.conversations() == ids[1:]


async def test_transfer_requeues_on_the_new_skill_and_frees_the_agent(desk: Desk) -> None:
    general = await desk.agent("general", maximum=1)
    billing = await desk.agent("billing")
    await general.state("ONLINE")
    first, second = await open_conversations(desk, 2)
    assert await general.conversations() == [first]

    response = await general.transfer(first, "billing")

    assert response.status_code == 200, response.text
    assert response.json()["skill"] == "billing"
    assert response.json()["assignedAgent"] is None
    # The general agent took the next waiting conversation; billing's queue has the transfer.
    assert await general.conversations() == [second]
    assert [q["conversationId"] for q in await billing.queue()] == [first]
    await billing.state("ONLINE")
    assert await billing.conversations() == [first]
    view = await billing.get(first)
    assert view["skill"] == "billing"
    assert [(m["sender"], m["text"]) for m in view["messages"]] == [
        ("consumer", "hello from 0"),
        ("system", "You are being transferred to another agent."),
    ]


async def test_transfer_to_a_skill_that_does_not_exist_is_refused(desk: Desk) -> None:
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    [conversation_id] = await open_conversations(desk, 1)
    response = await agent.transfer(conversation_id, "astrology")
    assert response.status_code == 400
    assert problem(response)["errorCode"] == 1300
    assert await agent.conversations() == [conversation_id]


async def test_close_ends_it_and_a_later_message_opens_a_new_one(desk: Desk) -> None:
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    [conversation_id] = await open_conversations(desk, 1)
    closed = await agent.close(conversation_id)
    assert closed.status_code == 200
    assert closed.json()["state"] == "CLOSED"
    assert (await agent.close(conversation_id)).status_code == 200  # harmless twice
    assert (await agent.reply(conversation_id, "late")).status_code == 409
    assert (await desk.consumer_view("consumer-00")).json()["state"] == "CLOSED"
    again = await desk.says("consumer-00", "back again")
    assert again != conversation_id
    assert (await desk.consumer_view("consumer-00")).json()["conversationId"] == again


async def test_an_agent_manager_may_close_and_transfer_any_conversation(desk: Desk) -> None:
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    first, second = await open_conversations(desk, 2)
    manager = await desk.agent(roles=("agent_manager",))
    assert (await manager.transfer(first, "billing")).status_code == 200
    assert (await manager.close(second)).status_code == 200
    assert await agent.conversations() == []
    # But writing is for the assigned agent.
    assert (await manager.reply(first, "hi")).status_code == 409


async def test_unknown_states_are_refused(desk: Desk) -> None:
    agent: AgentClient = await desk.agent("general")
    response = await agent.call("PUT", "/state", json={"state": "BUSY"})
    assert response.status_code == 400
    assert problem(response)["errorCode"] == 1000


async def test_a_long_conversation_shows_its_most_recent_messages(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parlay.conversations import workspace as service

    monkeypatch.setattr(service, "MESSAGES_LIMIT", 3)
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    [conversation_id] = await open_conversations(desk, 1)
    for text in ("one", "two", "three"):
        assert (await agent.reply(conversation_id, text)).status_code == 201
    shown = (await agent.get(conversation_id))["messages"]
    assert [m["text"] for m in shown] == ["one", "two", "three"]
    assert [m["text"] for m in (await desk.consumer_view("consumer-00")).json()["messages"]] == [
        "one",
        "two",
        "three",
    ]
