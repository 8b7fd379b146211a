"""The workspace page: the agent API's use cases behind a signed-in page (fast, no browser)."""

from __future__ import annotations

import pytest

from tests.conversations.conftest import desk, rsa_key  # noqa: F401 - fixtures
from tests.conversations.support import Desk
from tests.outbound.conftest import (  # noqa: F401 - fixtures
    clock,
    container,
    dispatch_settings,
    outbound,
    quick_housekeeping,
    sandbox,
)
from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio


async def _agent_of(web: WebClient, *skills: str) -> str:
    """Sign in as a new agent of ``skills``; the CSRF token."""
    csrf = await web.signed_in_as("agent")
    me = (await web.http.get(f"{web.brand.url}/users", headers=web.brand.admin)).json()
    user = max(me["users"], key=lambda u: int(u["id"]))
    changed = await web.http.patch(
        f"{web.brand.url}/users/{user['id']}",
        json={"skills": list(skills)},
        headers=web.brand.admin,
    )
    assert changed.status_code == 200, changed.text
    return csrf


async def test_an_agent_goes_online_answers_and_closes_through_the_page(
    web: WebClient,
    desk: Desk,  # noqa: F811 - the fixture imported above
) -> None:
    await desk.settings(defaultSkill="general")
    csrf = await _agent_of(web, "general")
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    panels = await web.http.post("/app/workspace/state", data={"state": "ONLINE"}, headers=headers)
    assert panels.status_code == 200
    assert 'id="my-state" class="state state-online">ONLINE' in panels.text

    conversation = await desk.says("ana", "Is my order late?")
    page = await web.http.get(f"/app/workspace?c={conversation}")
    assert "Is my order late?" in page.text
    assert 'id="context"' in page.text
    assert "ana" in page.text
    assert "Accept" in page.text

    url = f"/app/workspace/conversations/{conversation}"
    empty = await web.http.post(f"{url}/messages", data={"text": ""}, headers=headers)
    assert empty.status_code == 400
    assert "1 to 1,000 characters" in empty.text
    sent = await web.http.post(f"{url}/messages", data={"text": "On its way"}, headers=headers)
    assert sent.status_code == 200
    seen = (await desk.consumer_view("ana")).json()
    assert [m["text"] for m in seen["messages"]][-1] == "On its way"

    closed = await web.http.post(f"{url}/close", headers=headers)
    assert closed.status_code == 200
    assert "Closed." in closed.text
    assert (await desk.consumer_view("ana")).json()["state"] == "CLOSED"
    # Acting on it again: the use case's refusal, beside the conversation.
    late = await web.http.post(f"{url}/messages", data={"text": "hello?"}, headers=headers)
    assert late.status_code == 409
    assert "closed" in late.text


async def test_a_manager_sees_every_queue_and_every_agents_state_and_load(
    web: WebClient,
    desk: Desk,  # noqa: F811 - the fixture imported above
) -> None:
    await desk.settings(defaultSkill="general")
    agent = await desk.agent("general", maximum=2)
    await agent.state("ONLINE")
    await desk.says("ana", "hello")
    await desk.says("bo", "hello")
    waiting = await desk.says("cy", "hello")
    await web.signed_in_as("agent_manager")
    page = await web.http.get("/app/workspace")
    assert page.status_code == 200
    assert f"?c={waiting}" in page.text.split('id="queue"')[1]
    row = page.text.split(agent.username)[1].split("</tr>")[0]
    assert "ONLINE" in row
    assert "2/2" in row


async def test_roles_without_the_workspace_are_refused(web: WebClient) -> None:
    await web.signed_in_as("campaign_manager")
    assert (await web.http.get("/app/workspace")).status_code == 403
    assert (await web.http.get("/app/workspace/events")).status_code == 403
