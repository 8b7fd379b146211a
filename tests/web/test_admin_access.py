"""Who opens the admin pages, what another account's IDs open (nothing), and the CSRF token on
every form action of the web tool."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from tests.conftest import Brand
from tests.web.conftest import WebClient
from tests.web.test_pages import _web_routes

pytestmark = pytest.mark.anyio

ROLES = ("admin", "campaign_manager", "agent_manager", "agent")
# page -> the roles that open it (the staff API's grants, written out as the rule).
OPENS = {
    "/app/handoffs": {"admin", "campaign_manager", "agent_manager"},
    "/app/handoffs/new": {"admin", "campaign_manager"},
    "/app/apikeys": {"admin"},
    "/app/users": {"admin", "agent_manager"},
    "/app/webhooks": {"admin"},
    "/app/settings": {"admin"},
    "/app/channels": {"admin"},
    "/app/apps": {"admin", "campaign_manager"},
}


async def test_each_role_opens_exactly_the_admin_pages_its_api_grants(web: WebClient) -> None:
    for role in ROLES:
        await web.signed_in_as(role)
        home = await web.http.get("/app/")
        for path, roles in OPENS.items():
            response = await web.http.get(path)
            expected = 200 if role in roles else 403
            assert response.status_code == expected, (role, path)
            if path.count("/") == 2:  # a page of the nav
                assert (f'href="{path}"' in home.text) is (role in roles), (role, path)


async def test_another_accounts_ids_open_nothing_in_the_web_tool(
    web: WebClient, other_brand: Brand
) -> None:
    handoff = await other_brand.client.post(
        f"{other_brand.url}/handoffs",
        json={"name": "theirs", "channels": [{"type": "sms"}]},
        headers=other_brand.admin,
    )
    key = await other_brand.client.post(
        f"{other_brand.url}/apikeys",
        json={"name": "theirs", "scopes": ["c2m"]},
        headers=other_brand.admin,
    )
    hook = await other_brand.client.post(
        f"{other_brand.url}/webhooks",
        json={"url": "https://hooks.globex.example/x", "events": ["delivery.*"]},
        headers=other_brand.admin,
    )
    app = await other_brand.client.post(
        f"{other_brand.url}/apps",
        json={
            "appId": "com.globex.only",
            "platform": "ios",
            "pushService": "proxy",
            "proxy": {"url": "https://push.globex.example/x", "secret": "s" * 20},
        },
        headers=other_brand.admin,
    )
    assert app.status_code == 201, app.text
    users = await other_brand.client.get(f"{other_brand.url}/users", headers=other_brand.admin)
    handoff_id, key_id, hook_id = handoff.json()["id"], key.json()["id"], hook.json()["id"]
    user_id = users.json()["users"][0]["id"]
    csrf = await web.signed_in_as("admin")
    for path in (
        f"/app/handoffs/{handoff_id}",
        f"/app/webhooks/{hook_id}",
        f"/app/users/{user_id}",
        "/app/apps/com.globex.only",
    ):
        assert (await web.http.get(path)).status_code == 404, path
    for path in (
        f"/app/handoffs/{handoff_id}",
        f"/app/handoffs/{handoff_id}/delete",
        f"/app/apikeys/{key_id}/revoke",
        f"/app/webhooks/{hook_id}/test",
        f"/app/webhooks/{hook_id}/enable",
        f"/app/webhooks/{hook_id}/delete",
        f"/app/users/{user_id}",
        f"/app/users/{user_id}/disable",
        "/app/apps/com.globex.only/delete",
    ):
        response = await web.http.post(path, data={"name": "mine", "csrf_token": csrf})
        assert response.status_code == 404, path
    # Still theirs, untouched.
    theirs = await other_brand.client.get(f"{other_brand.url}/apikeys", headers=other_brand.admin)
    assert [k["id"] for k in theirs.json()["apiKeys"]] == [key_id]


async def test_every_form_action_of_the_web_tool_refuses_a_request_without_the_token(
    web: WebClient, app: FastAPI
) -> None:
    await web.signed_in_as("admin")
    actions = [
        path
        for (method, path), _ in _web_routes(app).items()
        if method == "POST" and path != "/sign-in"
    ]
    assert len(actions) > 10
    for path in actions:
        url = "/app" + re.sub(r"\{[^}]+\}", "1", path)
        response = await web.http.post(url, data={"name": "x"})
        assert response.status_code == 403, path
        assert "security token" in response.text, path
