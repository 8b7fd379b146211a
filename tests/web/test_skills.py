"""The Skills page: the account's skills, and adding one with the JSON API's rules."""

from __future__ import annotations

import pytest

from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio


async def test_an_admin_creates_a_skill_and_sees_it_listed(web: WebClient) -> None:
    csrf = await web.signed_in_as("admin")
    response = await web.http.post("/app/skills", data={"name": "sales", "csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/app/skills?created=sales"
    listed = await web.http.get(f"{web.brand.url}/skills", headers=web.brand.admin)
    assert "sales" in [s["name"] for s in listed.json()["skills"]]
    page = await web.http.get("/app/skills?created=sales")
    assert "<td>sales</td>" in page.text
    assert "Skill “sales” created." in page.text


@pytest.mark.parametrize(
    ("name", "status", "says"),
    [(" padded ", 400, "without spaces at either end"), ("general", 409, "already exists")],
)
async def test_a_name_the_api_refuses_comes_back_beside_the_field(
    web: WebClient, name: str, status: int, says: str
) -> None:
    csrf = await web.signed_in_as("admin")
    response = await web.http.post("/app/skills", data={"name": name, "csrf_token": csrf})
    assert response.status_code == status
    assert 'aria-describedby="name-error"' in response.text
    assert says in response.text.split('id="name-error"')[1]


async def test_an_agent_sees_the_skills_but_may_not_add_one(web: WebClient) -> None:
    csrf = await web.signed_in_as("agent")
    page = await web.http.get("/app/skills")
    assert page.status_code == 200
    assert "Create skill" not in page.text
    refused = await web.http.post("/app/skills", data={"name": "sales", "csrf_token": csrf})
    assert refused.status_code == 403
    assert "may not" in refused.text
