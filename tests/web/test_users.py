"""The Users and agents page: an admin creates users with roles, sets an agent's skills and
maximum conversations, disables and enables; an agent manager only looks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TEST_PASSWORD
from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio


async def _user(web: WebClient, username: str) -> dict[str, Any]:
    listed = await web.http.get(f"{web.brand.url}/users", headers=web.brand.admin)
    return next(u for u in listed.json()["users"] if u["username"] == username)


async def test_an_admin_creates_an_agent_sets_its_skills_and_disables_it(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    form = {
        "username": "ada",
        "password": TEST_PASSWORD,
        "roles": ["agent"],
        "type": "human",
        "skills": ["general"],
        "max_concurrent_conversations": "4",
        "csrf_token": csrf,
    }
    created = await web.http.post("/app/users", data=form)
    assert created.status_code == 303, created.text
    ada = await _user(web, "ada")
    assert (ada["roles"], ada["skills"], ada["maxConcurrentConversations"]) == (
        ["agent"],
        ["general"],
        4,
    )

    changes = {
        "roles": ["agent"],
        "skills": ["general", "billing"],
        "max_concurrent_conversations": "7",
        "csrf_token": csrf,
    }
    saved = await web.http.post(f"/app/users/{ada['id']}", data=changes)
    assert saved.status_code == 303, saved.text
    ada = await _user(web, "ada")
    assert (sorted(ada["skills"]), ada["maxConcurrentConversations"]) == (
        ["billing", "general"],
        7,
    )

    disabled = await web.http.post(f"/app/users/{ada['id']}/disable", data={"csrf_token": csrf})
    assert disabled.status_code == 303
    assert (await _user(web, "ada"))["disabled"] is True
    assert (await web.sign_in("ada")).status_code != 303
    enabled = await web.http.post(f"/app/users/{ada['id']}/enable", data={"csrf_token": csrf})
    assert enabled.status_code == 303
    assert (await _user(web, "ada"))["disabled"] is False


async def test_a_user_the_api_refuses_comes_back_with_errors_beside_the_fields(
    web: WebClient,
) -> None:
    csrf = await web.signed_in_as("admin")
    form = {
        "username": "admin",
        "password": "short",
        "roles": ["agent"],
        "max_concurrent_conversations": "0",
        "csrf_token": csrf,
    }
    refused = await web.http.post("/app/users", data=form)
    assert refused.status_code == 400
    assert 'id="password-error"' in refused.text
    assert 'id="max_concurrent_conversations-error"' in refused.text
    form |= {"password": TEST_PASSWORD, "max_concurrent_conversations": "3"}
    taken = await web.http.post("/app/users", data=form)
    assert taken.status_code == 409
    assert "already exists" in taken.text.split('id="username-error">')[1]


async def test_an_agent_manager_sees_the_users_but_is_offered_no_change(web: WebClient) -> None:
    csrf = await web.signed_in_as("agent_manager")
    page = await web.http.get("/app/users")
    assert page.status_code == 200
    assert "Create user" not in page.text
    refused = await web.http.post(
        "/app/users", data={"username": "x", "password": TEST_PASSWORD, "csrf_token": csrf}
    )
    assert refused.status_code == 403
