"""Staff users: roles and skills validated, bots, partial updates, secrets hidden."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from parlay.accounts.models import User
from tests.conftest import TEST_PASSWORD, Brand, problem

pytestmark = pytest.mark.anyio


def user_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"username": "jane", "password": TEST_PASSWORD, "roles": ["agent"]}
    body.update(overrides)
    return body


async def create(brand: Brand, **overrides: Any) -> httpx.Response:
    return await brand.client.post(
        f"{brand.url}/users", json=user_body(**overrides), headers=brand.admin
    )


async def patch(brand: Brand, user_id: int, body: dict[str, Any]) -> httpx.Response:
    return await brand.client.patch(f"{brand.url}/users/{user_id}", json=body, headers=brand.admin)


def field_error(response: httpx.Response, code: int = 1000) -> str:
    """The one field a 400 names (asserting the status and errorCode)."""
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["errorCode"] == code
    fields = {e["field"] for e in body["errors"]}
    assert len(fields) == 1, body
    field: str = fields.pop()
    return field


async def test_admin_creates_a_user_with_roles_and_skills(brand: Brand) -> None:
    response = await create(
        brand,
        roles=["agent", "agent_manager"],
        skills=["billing", "general"],
        maxConcurrentConversations=5,
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["username"] == "jane"
    assert sorted(user["roles"]) == ["agent", "agent_manager"]
    assert user["skills"] == ["billing", "general"]
    assert (user["type"], user["maxConcurrentConversations"], user["disabled"]) == (
        "human",
        5,
        False,
    )

    fetched = await brand.client.get(f"{brand.url}/users/{user['id']}", headers=brand.admin)
    assert fetched.json() == user
    listed = await brand.client.get(f"{brand.url}/users", headers=brand.admin)
    assert user in listed.json()["users"]


async def test_new_user_holds_three_conversations_by_default(brand: Brand) -> None:
    response = await create(brand)
    assert response.json()["maxConcurrentConversations"] == 3


async def test_the_new_user_can_log_in(brand: Brand) -> None:
    await create(brand)
    await brand.login("jane")


async def test_passwords_are_stored_as_argon2id_hashes(brand: Brand) -> None:
    await create(brand)
    async with brand.container.db.read() as session:
        stored = (
            await session.execute(select(User.password_hash).where(User.username == "jane"))
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert TEST_PASSWORD not in stored


async def test_no_password_or_hash_is_ever_returned(brand: Brand) -> None:
    created = await create(brand)
    listed = await brand.client.get(f"{brand.url}/users", headers=brand.admin)
    for text in (created.text, listed.text):
        assert "password" not in text.lower()
        assert "argon2" not in text
        assert TEST_PASSWORD not in text


@pytest.mark.parametrize(
    "roles", [["superuser"], ["agent", "root"], []], ids=["unknown", "one-unknown", "none"]
)
async def test_roles_must_be_known_and_at_least_one(brand: Brand, roles: list[str]) -> None:
    assert field_error(await create(brand, roles=roles)).startswith("roles")


async def test_skills_must_exist_errorcode_1300(brand: Brand) -> None:
    response = await create(brand, skills=["general", "no-such-skill"])
    assert field_error(response, code=1300) == "skills"
    assert "no-such-skill" in problem(response)["errorMessage"]
    listed = await brand.client.get(f"{brand.url}/users", headers=brand.admin)
    assert "jane" not in [u["username"] for u in listed.json()["users"]]


async def test_skills_of_another_account_do_not_exist_here(
    brand: Brand, other_brand: Brand
) -> None:
    await other_brand.skill("globex-only")
    assert field_error(await create(brand, skills=["globex-only"]), code=1300) == "skills"


async def test_changing_skills_to_an_unknown_one_is_1300_and_changes_nothing(brand: Brand) -> None:
    user = (await create(brand, skills=["general"])).json()
    response = await patch(brand, user["id"], {"skills": ["billing", "nope"]})
    assert field_error(response, code=1300) == "skills"
    fetched = await brand.client.get(f"{brand.url}/users/{user['id']}", headers=brand.admin)
    assert fetched.json()["skills"] == ["general"]


async def test_duplicate_username_is_409(brand: Brand) -> None:
    assert (await create(brand)).status_code == 201
    again = await create(brand, password="another password")
    assert again.status_code == 409
    assert "jane" in problem(again)["errorMessage"]


async def test_the_same_username_may_exist_in_two_accounts(
    brand: Brand, other_brand: Brand
) -> None:
    # Both fixtures already have a user named "admin".
    assert (await create(brand, username="admin")).status_code == 409
    assert (await create(other_brand, username="jane")).status_code == 201
    assert (await create(brand, username="jane")).status_code == 201


@pytest.mark.edge
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("password", "short"),
        ("username", ""),
        ("username", "has space"),
        ("type", "robot"),
        ("maxConcurrentConversations", 0),
        ("maxConcurrentConversations", 101),
        ("maxConcurrentConversations", True),
    ],
)
async def test_invalid_fields_are_named(brand: Brand, field: str, value: Any) -> None:
    assert field_error(await create(brand, **{field: value})) == field


async def test_missing_required_fields_are_named(brand: Brand) -> None:
    response = await brand.client.post(f"{brand.url}/users", json={}, headers=brand.admin)
    assert response.status_code == 400
    fields = {e["field"] for e in problem(response)["errors"]}
    assert fields == {"username", "password", "roles"}


async def test_unknown_fields_are_refused_and_named(brand: Brand) -> None:
    assert field_error(await create(brand, isAdmin=True)) == "isAdmin"
    user = (await create(brand)).json()
    assert field_error(await patch(brand, user["id"], {"username": "renamed"})) == "username"


async def test_bot_user_is_an_agent_driven_by_software(brand: Brand) -> None:
    response = await create(brand, username="helper-bot", type="bot", skills=["general"])
    assert response.status_code == 201, response.text
    bot = response.json()
    assert (bot["type"], bot["roles"], bot["skills"]) == ("bot", ["agent"], ["general"])
    await brand.login("helper-bot")


@pytest.mark.parametrize("roles", [["admin"], ["agent", "campaign_manager"], ["agent_manager"]])
async def test_a_bot_holds_only_the_agent_role(brand: Brand, roles: list[str]) -> None:
    assert field_error(await create(brand, type="bot", roles=roles)) == "roles"


async def test_a_bot_cannot_be_promoted_beyond_agent(brand: Brand) -> None:
    bot = (await create(brand, username="helper-bot", type="bot")).json()
    assert field_error(await patch(brand, bot["id"], {"roles": ["admin"]})) == "roles"


async def test_patch_changes_only_the_fields_given(brand: Brand) -> None:
    user = (await create(brand, skills=["general"], maxConcurrentConversations=4)).json()
    response = await patch(brand, user["id"], {"roles": ["agent_manager"]})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["roles"] == ["agent_manager"]
    unchanged = (
        "username",
        "skills",
        "maxConcurrentConversations",
        "type",
        "disabled",
        "createdAt",
    )
    assert {k: updated[k] for k in unchanged} == {k: user[k] for k in unchanged}


async def test_patch_replaces_the_skill_list(brand: Brand) -> None:
    user = (await create(brand, skills=["general"])).json()
    assert (await patch(brand, user["id"], {"skills": ["billing"]})).json()["skills"] == ["billing"]
    assert (await patch(brand, user["id"], {"skills": []})).json()["skills"] == []


async def test_patch_validates_roles(brand: Brand) -> None:
    user = (await create(brand)).json()
    assert field_error(await patch(brand, user["id"], {"roles": []})) == "roles"
    assert field_error(await patch(brand, user["id"], {"roles": ["owner"]})).startswith("roles")


async def test_unknown_user_is_404(brand: Brand) -> None:
    for response in (
        await brand.client.get(f"{brand.url}/users/999999", headers=brand.admin),
        await patch(brand, 999999, {"disabled": True}),
    ):
        assert response.status_code == 404
        assert problem(response)["errorCode"] == 1004


async def test_the_last_admin_cannot_be_disabled_or_demoted(brand: Brand) -> None:
    users = (await brand.client.get(f"{brand.url}/users", headers=brand.admin)).json()["users"]
    (admin,) = [u for u in users if u["username"] == "admin"]
    for change in ({"disabled": True}, {"roles": ["agent"]}):
        response = await patch(brand, admin["id"], change)
        assert response.status_code == 409, response.text
        assert "last admin" in problem(response)["errorMessage"]
    assert (await brand.client.get(f"{brand.url}/users", headers=brand.admin)).status_code == 200


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(brand: Brand) -> None:
    assert (await create(brand, username="deputy", roles=["admin"])).status_code == 201
    deputy_token = await brand.login("deputy")
    users = (await brand.client.get(f"{brand.url}/users", headers=brand.admin)).json()["users"]
    ids = {u["username"]: u["id"] for u in users}
    for change in ({"roles": ["agent"]}, {"disabled": True}):
        answers = await asyncio.gather(
            brand.client.patch(
                f"{brand.url}/users/{ids['deputy']}", json=change, headers=brand.admin
            ),
            brand.client.patch(
                f"{brand.url}/users/{ids['admin']}", json=change, headers=brand.auth(deputy_token)
            ),
        )
        statuses = sorted(a.status_code for a in answers)
        # One wins; the other is refused (409), or finds its own credential already demoted.
        assert statuses in ([200, 403], [200, 409], [200, 401]), [a.text for a in answers]
        async with brand.container.db.read() as session:
            admins = [
                u
                for u in (await session.execute(select(User))).scalars()
                if "admin" in u.roles and not u.disabled
            ]
        assert len(admins) == 1
        # Back to two admins for the next round.
        (loser,) = {"admin", "deputy"} - {admins[0].username}
        token = brand.admin_token if admins[0].username == "admin" else deputy_token
        restore = {"roles": ["admin"], "disabled": False}
        response = await brand.client.patch(
            f"{brand.url}/users/{ids[loser]}", json=restore, headers=brand.auth(token)
        )
        assert response.status_code == 200, response.text
        if loser == "admin":
            brand.admin_token = await brand.login("admin")
        else:
            deputy_token = await brand.login("deputy")


async def test_an_admin_may_step_down_once_another_admin_exists(brand: Brand) -> None:
    users = (await brand.client.get(f"{brand.url}/users", headers=brand.admin)).json()["users"]
    (admin,) = [u for u in users if u["username"] == "admin"]
    assert (await create(brand, username="deputy", roles=["admin"])).status_code == 201
    response = await patch(brand, admin["id"], {"roles": ["campaign_manager"]})
    assert response.status_code == 200, response.text
