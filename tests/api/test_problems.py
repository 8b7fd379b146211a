"""Request errors as problem+json: fields are named, framework errors keep the shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from parlay.api.problems import PROBLEM_JSON
from parlay.api.strict_json import StrictJSONRoute
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


@pytest.mark.edge
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"name": NaN}', "NaN is not a JSON number"),
        (b'{"name": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"name": "a", "name": "b"}', "duplicate key 'name'"),
        (b'{"name": "\xff"}', "the body is not UTF-8"),
    ],
)
async def test_json_that_is_not_strictly_json_is_refused(
    brand: Brand, body: bytes, reason: str
) -> None:
    response = await brand.client.post(
        f"{brand.url}/skills",
        content=body,
        headers={**brand.admin, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert problem(response)["errors"] == [
        {"field": "body", "message": f"body is not valid JSON: {reason}"}
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
    assert problem(response)["errorCode"] == 1005  # LivePerson's code for a wrong method
    # Starlette names the methods of the first route matching the path only (GET and POST are
    # separate routes here), so the header is present but not necessarily complete.
    assert set(response.headers["allow"].replace(" ", "").split(",")) & {"GET", "POST"}


async def test_unknown_path_is_404_problem(brand: Brand) -> None:
    response = await brand.client.get(f"{brand.url}/no-such-thing", headers=brand.admin)
    assert response.status_code == 404
    assert problem(response)["errorCode"] == 1004


async def test_every_operation_documents_its_errors_as_problem_json(app: FastAPI) -> None:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert "422" not in responses, f"{where}: invalid input is a 400 here"
            assert {"431", "500"} <= set(responses), where
            if operation.get("security"):
                assert "401" in responses, where
            if "{" in path:
                assert "404" in responses, where
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"] == {PROBLEM_JSON: {"schema": problem_ref}}, where


async def test_every_api_route_parses_json_strictly(app: FastAPI) -> None:
    api_routes = [
        route.original_route
        for route in iter_route_contexts(app.routes)
        if (route.path or "").startswith("/api/")
    ]
    assert len(api_routes) > 40
    assert all(isinstance(route, StrictJSONRoute) for route in api_routes)


# Inputs bounded by a rule rather than by the schema, and why.
BOUNDED_ELSEWHERE = {
    # Anything that is not an E.164 number is refused with 1001 (invalid phone number).
    "EligibilityIn.consumerPhoneNumber",
    # Free-form attributes, bounded as a whole: at most 50 items, 32 KiB as JSON.
    "EligibilityIn.sdes[]",
    # The same, given per campaign consumer (ctmrinfo and personal: 50 fields each, and the
    # request's 32 MiB).
    "ConsumerIn.sdes[]",
    "ConsumerIn.ctmrinfo",
    "ConsumerIn.personal",
}


def _unbounded(schema: dict[str, Any], node: dict[str, Any], where: str) -> Iterator[str]:
    """Each string without maxLength, list without maxItems, map without maxProperties."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        yield from _unbounded(schema, schema["components"]["schemas"][name], name)
        return
    for alternative in node.get("anyOf", []):
        yield from _unbounded(schema, alternative, where)
    kind = node.get("type")
    if kind == "string" and not ({"maxLength", "enum", "const"} & set(node)):
        yield where
    elif kind == "array":
        if "maxItems" not in node:
            yield where
        yield from _unbounded(schema, node.get("items", {}), f"{where}[]")
    elif kind == "object":
        for name, field in node.get("properties", {}).items():
            yield from _unbounded(schema, field, f"{where}.{name}")
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            if "maxProperties" not in node:
                yield where
            yield from _unbounded(schema, values, f"{where}.*")
        elif not node.get("properties"):
            yield where


async def test_every_input_has_a_size_bound(app: FastAPI) -> None:
    schema = app.openapi()
    unbounded = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['in']}:{parameter['name']}"
                unbounded |= set(_unbounded(schema, parameter["schema"], where))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unbounded |= set(_unbounded(schema, content["schema"], f"{method} {path}"))
    assert unbounded == BOUNDED_ELSEWHERE
