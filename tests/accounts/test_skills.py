"""Skills: routing targets, referred to by name, unique per account."""

from __future__ import annotations

import pytest

from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio


async def test_admin_creates_a_skill_and_it_is_listed_by_name(brand: Brand) -> None:
    response = await brand.client.post(
        f"{brand.url}/skills", json={"name": "sales"}, headers=brand.admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "sales"
    listed = await brand.client.get(f"{brand.url}/skills", headers=brand.admin)
    assert [s["name"] for s in listed.json()["skills"]] == ["billing", "general", "sales"]


async def test_duplicate_skill_is_409(brand: Brand) -> None:
    response = await brand.client.post(
        f"{brand.url}/skills", json={"name": "billing"}, headers=brand.admin
    )
    assert response.status_code == 409
    assert "billing" in problem(response)["errorMessage"]


async def test_the_same_skill_name_may_exist_in_two_accounts(
    brand: Brand, other_brand: Brand
) -> None:
    for b in (brand, other_brand):
        response = await b.client.post(f"{b.url}/skills", json={"name": "vip"}, headers=b.admin)
        assert response.status_code == 201, response.text


@pytest.mark.edge
@pytest.mark.parametrize("name", ["", " padded", "padded ", " "], ids=repr)
async def test_skill_name_must_be_non_blank_without_surrounding_space(
    brand: Brand, name: str
) -> None:
    response = await brand.client.post(
        f"{brand.url}/skills", json={"name": name}, headers=brand.admin
    )
    assert response.status_code == 400
    assert [e["field"] for e in problem(response)["errors"]] == ["name"]


async def test_unknown_skill_fields_are_refused(brand: Brand) -> None:
    response = await brand.client.post(
        f"{brand.url}/skills", json={"name": "sales", "routable": True}, headers=brand.admin
    )
    assert response.status_code == 400
    body = problem(response)
    assert body["errorCode"] == 1000
    assert body["errors"] == [{"field": "routable", "message": "unknown field"}]


async def test_every_staff_role_may_list_skills_but_only_admin_creates(brand: Brand) -> None:
    for role in ("campaign_manager", "agent_manager", "agent"):
        token = await brand.user_token(role)
        listed = await brand.client.get(f"{brand.url}/skills", headers=brand.auth(token))
        assert listed.status_code == 200
        created = await brand.client.post(
            f"{brand.url}/skills", json={"name": f"by-{role}"}, headers=brand.auth(token)
        )
        assert created.status_code == 403
        assert problem(created)["errorCode"] == 1101
