"""The API reference explains itself: every field and parameter has a description, every
request and response shape an example, and every example is valid against its own schema.

Each test walks the whole generated document and names every place that breaks its rule, so a
route added without them fails here with the list to fill in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema_rs import Draft202012Validator

Document = dict[str, Any]
pytestmark = pytest.mark.anyio

JSON_TYPES = ("application/json", "application/problem+json")


@pytest.fixture
async def document(app: FastAPI) -> Document:
    return app.openapi()


def _properties(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named property of a schema, inline object schemas inside it included."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{where}.{name}", prop
        for branch in (prop, prop.get("items", {}), *prop.get("anyOf", ())):
            yield from _properties(branch, f"{where}.{name}")


def _operations(document: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def _bodies(document: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON request and response body: (where, media type object)."""
    for where, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        for media_type in JSON_TYPES:
            if media_type in content:
                yield f"{where} request", content[media_type]
        for status, response in operation["responses"].items():
            for media_type, body in response.get("content", {}).items():
                if media_type in JSON_TYPES:
                    yield f"{where} {status}", body


def _resolve(document: Document, schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document
    for part in ref.removeprefix("#/").split("/"):
        resolved = resolved[part]
    return resolved


def _validator(document: Document, schema: dict[str, Any]) -> Draft202012Validator:
    # The components travel with the schema, so its "#/components/..." references resolve.
    return Draft202012Validator(
        {**schema, "components": document["components"]}, validate_formats=True
    )


async def test_every_field_has_a_description(document: Document) -> None:
    missing = [
        where
        for name, schema in document["components"]["schemas"].items()
        for where, prop in _properties(schema, name)
        if not prop.get("description")
    ]
    assert not missing, "fields without a description:\n" + "\n".join(missing)


async def test_every_parameter_has_a_description(document: Document) -> None:
    missing = [
        f"{where} {parameter['in']} {parameter['name']}"
        for where, operation in _operations(document)
        for parameter in operation.get("parameters", ())
        if not parameter.get("description")
    ]
    assert not missing, "parameters without a description:\n" + "\n".join(missing)


async def test_every_request_and_response_body_has_an_example(document: Document) -> None:
    missing = sorted(
        {
            body["schema"].get("$ref", where)
            for where, body in _bodies(document)
            if not (
                body.get("example") is not None
                or body.get("examples")
                or _resolve(document, body["schema"]).get("examples")
            )
        }
    )
    assert not missing, "bodies without an example:\n" + "\n".join(missing)


def _examples(document: Document) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Every example in the document, with the schema it must be valid against."""
    for name, schema in document["components"]["schemas"].items():
        for index, example in enumerate(schema.get("examples", ())):
            yield f"{name} example {index}", schema, example
        for where, prop in _properties(schema, name):
            for index, example in enumerate(prop.get("examples", ())):
                yield f"{where} example {index}", prop, example
    for where, body in _bodies(document):
        if body.get("example") is not None:
            yield f"{where} example", body["schema"], body["example"]
        for key, example in body.get("examples", {}).items():
            yield f"{where} example {key}", body["schema"], example["value"]
    for where, operation in _operations(document):
        for parameter in operation.get("parameters", ()):
            for index, example in enumerate(parameter["schema"].get("examples", ())):
                yield f"{where} {parameter['name']} example {index}", parameter["schema"], example


async def test_every_example_is_valid_against_its_schema(document: Document) -> None:
    examples = list(_examples(document))
    assert examples, "the document has no example at all"
    invalid = [
        f"{where}: {error.message} at /{'/'.join(map(str, error.instance_path))}"
        for where, schema, example in examples
        for error in _validator(document, schema).iter_errors(example)
    ]
    assert not invalid, "invalid examples:\n" + "\n".join(invalid)
