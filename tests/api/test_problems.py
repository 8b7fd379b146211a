"""Request errors as problem+json: fields are named, framework errors keep the shape."""

from __future__ import annotations

import pytest

from tests.conftest import Brand, problem

pytestmark = pytest.mark.anyio


async def test_malformed_json_names_the_body_as_the_field(brand: Brand) -> None:
    response = await brand.client.post(
        f"{brand.url}/skills",
        content=b'{"name": ',
        headers={**brand.admin, "content-type": "application/json"},
    )
    assert response.status_code == 400
    body = problem(response)
    assert body["errorCode"] == 1000
    assert body["errors"] == [
        {"field": "body", "message": "body is not valid JSON (at character 9)"}
    ]


async def test_a_missing_body_is_named(brand: Brand) -> None:
    response = await brand.client.post(f"{brand.url}/skills", headers=brand.admin)
    assert response.status_code == 400
    assert problem(response)["errors"] == [{"field": "body", "message": "required"}]


async def test_nested_unknown_fields_are_named_by_their_path(brand: Brand) -> None:
    response = await brand.client.put(
        f"{brand.url}/settings",
        json={"welcomeMessage": {"enabled": False, "colour": "red"}},
        headers=brand.admin,
    )
    assert problem(response)["errors"] == [
        {"field": "welcomeMessage.colour", "message": "unknown field"}
    ]


async def test_wrong_method_is_405_problem_with_allow_header(brand: Brand) -> None:
    response = await brand.client.delete(f"{brand.url}/skills", headers=brand.admin)
    assert response.status_code == 405
    assert problem(response)["errorCode"] == 1000
    # Starlette names the methods of the first route matching the path only (GET and POST are
    # separate routes here), so the header is present but not necessarily complete.
    assert set(response.headers["allow"].replace(" ", "").split(",")) & {"GET", "POST"}


async def test_unknown_path_is_404_problem(brand: Brand) -> None:
    response = await brand.client.get(f"{brand.url}/no-such-thing", headers=brand.admin)
    assert response.status_code == 404
    assert problem(response)["errorCode"] == 1004
