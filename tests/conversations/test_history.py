"""Closed conversations for agents: each agent reads back those they handled, an agent manager
every one of the account, newest closed first, a page at a time; nobody else's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Brand, problem
from tests.conversations.support import AgentClient, Desk

pytestmark = pytest.mark.anyio


async def closed(agent: AgentClient, **params: Any) -> Any:
    return await agent.ok("GET", "/conversations", params={"state": "CLOSED", **params})


async def handle_and_close(desk: Desk, agent: AgentClient, subs: list[str]) -> list[str]:
    """Each consumer writes, ``agent`` (the only one ONLINE) answers and closes it, a minute
    apart; the conversations' IDs in the order they closed."""
    ids = []
    for sub in subs:
        conversation_id = await desk.says(sub, f"hello from {sub}")
        assert (await agent.reply(conversation_id, "Sorted!")).status_code == 201
        assert (await agent.close(conversation_id)).status_code == 200
        ids.append(conversation_id)
        desk.advance(minutes=1)
    return ids


async def test_an_agent_pages_through_the_closed_conversations_they_handled_newest_first(
    desk: Desk,
) -> None:
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    ids = await handle_and_close(desk, agent, ["ana", "ben", "cy", "dee", "eve"])
    still_open = await desk.says("fay", "are you there?")

    first = await closed(agent, limit=2)
    second = await closed(agent, limit=2, cursor=first["nextCursor"])
    last = await closed(agent, limit=2, cursor=second["nextCursor"])

    pages = [first, second, last]
    seen = [c["conversationId"] for page in pages for c in page["conversations"]]
    assert seen == ids[::-1]
    assert still_open not in seen
    assert last["nextCursor"] is None
    assert {c["state"] for c in first["conversations"]} == {"CLOSED"}
    # The open list is unchanged, and the conversation reads back with its messages.
    assert await agent.conversations() == [still_open]
    view = await agent.get(ids[0])
    assert view["state"] == "CLOSED"
    assert [(m["sender"], m["text"]) for m in view["messages"]] == [
        ("consumer", "hello from ana"),
        ("agent", "Sorted!"),
    ]


async def test_an_agent_sees_no_colleagues_closed_conversation_an_agent_manager_sees_all(
    desk: Desk,
) -> None:
    await desk.settings(defaultSkill="general")
    alex = await desk.agent("general")
    sam = await desk.agent("general")
    await alex.state("ONLINE")
    [of_alex] = await handle_and_close(desk, alex, ["ana"])
    await alex.state("OFFLINE")
    await sam.state("ONLINE")
    [of_sam] = await handle_and_close(desk, sam, ["ben"])
    manager = await desk.agent(roles=("agent_manager",))

    assert [c["conversationId"] for c in (await closed(alex))["conversations"]] == [of_alex]
    assert [c["conversationId"] for c in (await closed(sam))["conversations"]] == [of_sam]
    # Same skill, but handled by a colleague: not found once closed.
    refused = await alex.call("GET", f"/conversations/{of_sam}")
    assert refused.status_code == 404
    assert problem(refused)["errorCode"] == 1004
    everything = [c["conversationId"] for c in (await closed(manager))["conversations"]]
    assert everything == [of_sam, of_alex]
    assert (await manager.get(of_alex))["state"] == "CLOSED"


async def test_another_accounts_agents_see_none_of_the_closed_conversations(
    desk: Desk, other_brand: Brand
) -> None:
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("general")
    await agent.state("ONLINE")
    [conversation_id] = await handle_and_close(desk, agent, ["ana"])
    for roles in (("agent",), ("agent_manager",)):
        token = await other_brand.user_token(*roles)
        headers = Brand.auth(token)
        url = f"{other_brand.url}/agent/conversations"
        listed = await other_brand.client.get(url, params={"state": "CLOSED"}, headers=headers)
        assert listed.status_code == 200, listed.text
        assert listed.json()["conversations"] == []
        read = await other_brand.client.get(f"{url}/{conversation_id}", headers=headers)
        assert read.status_code == 404


@pytest.mark.edge
@pytest.mark.parametrize("cursor", ["nonsense", "ZDEy", "eC8", "e" * 100])
async def test_a_cursor_this_api_did_not_return_is_refused(desk: Desk, cursor: str) -> None:
    agent = await desk.agent("general")
    response = await agent.call(
        "GET", "/conversations", params={"state": "CLOSED", "cursor": cursor}
    )
    assert response.status_code == 400
    assert problem(response)["errors"][0]["field"] == "cursor"


async def test_only_open_and_closed_are_states_to_list(desk: Desk) -> None:
    agent = await desk.agent("general")
    response = await agent.call("GET", "/conversations", params={"state": "WAITING"})
    assert response.status_code == 400
    assert problem(response)["errorCode"] == 1000
