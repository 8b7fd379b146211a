"""The OpenAPI document, with every error a route can answer declared as problem+json.

Most of a route's errors follow from what it is made of, so they are derived, not listed by hand:
any input can be invalid (400), a body can be too large (413), any request's headers too large
(431); a caller that must authenticate can fail to (401), a permission can be missing (403), a
budget can run out (429); an account or resource named in the path may not exist (404); an
``Idempotency-Key`` can be reused with another body (409); a consumer's token is checked against
the brand's key set, which may be unreachable (503). What only a route's own rules answer (a
409 when a name is taken, say) it declares with ``responses=problems(409)``.

FastAPI's default 422 is removed: Parlay answers invalid input with 400 (``api.problems``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

from parlay.api.deps import authenticate, authenticate_consumer
from parlay.api.problems import PROBLEM_JSON
from parlay.lib.errors import (
    Conflict,
    Forbidden,
    HeadersTooLarge,
    InternalError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)

# Each status a route may answer, titled as its error is (409 has two errors: one title).
TITLES = {
    error.status: error.title
    for error in (
        InvalidRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        RateLimited,
        HeadersTooLarge,
        InternalError,
        ServiceUnavailable,
    )
}
_EVERY_ROUTE = (431, 500)


class ProblemField(BaseModel):
    field: str = Field(description="The input at fault, dotted inside lists: `channels.0.id`.")
    message: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An error (RFC 9457), with LivePerson's ``errorCode``/``errorMessage`` beside it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://parlay.dev/problems/1001",
                    "title": "Invalid request",
                    "status": 400,
                    "detail": "consumerPhoneNumber: not a valid E.164 number",
                    "errorCode": 1001,
                    "errorMessage": "consumerPhoneNumber: not a valid E.164 number",
                    "instance": "/api/account/acme/eligibility",
                    "errors": [
                        {"field": "consumerPhoneNumber", "message": "not a valid E.164 number"}
                    ],
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the kind of error (ends with errorCode).")
    title: str = Field(description="The HTTP status in words (Invalid request, Not found, ...).")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong, for a person to read.")
    errorCode: int = Field(description="Stable numeric code: docs/api.md#error-codes.")
    errorMessage: str = Field(description="The same as detail (LivePerson's field).")
    instance: str | None = Field(default=None, description="The request's path.")
    errors: list[ProblemField] | None = Field(
        default=None, description="The fields at fault, when the input is."
    )


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the errors only a route's own rules answer (documented as problems)."""
    return {status: {"description": TITLES[status]} for status in statuses}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _params(dependant: Dependant) -> Iterator[str]:
    for param in (*dependant.path_params, *dependant.query_params, *dependant.header_params):
        yield param.alias
    for sub in dependant.dependencies:
        yield from _params(sub)


def derived_statuses(route: Any) -> set[int]:
    """The errors a route can answer because of what it is made of (see the module docstring)."""
    statuses = set(_EVERY_ROUTE)
    params = set(_params(route.dependant))
    calls = list(_calls(route.dependant))
    if params or route.body_field is not None:
        statuses.add(400)
    if route.body_field is not None:
        statuses.add(413)
    if "{" in route.path_format:
        statuses.add(404)
    if "Idempotency-Key" in params:
        statuses.add(409)
    if authenticate in calls:
        statuses.add(401)
    if any(hasattr(call, "permission") for call in calls):
        statuses |= {403, 429}
    if authenticate_consumer in calls:
        statuses |= {401, 429, 503}
    return statuses


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": TITLES[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _parlay_models(cls: type[BaseModel] = BaseModel) -> Iterator[type[BaseModel]]:
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("parlay."):
            yield sub
        yield from _parlay_models(sub)


def _restore_examples(components: dict[str, Any]) -> None:
    """Put the body examples back as written: FastAPI drops every ``null`` from the document
    (``exclude_none``), those of examples too, and an example without its nullable fields is
    no longer valid against its own schema."""
    for model in _parlay_models():
        extra = model.model_config.get("json_schema_extra")
        if isinstance(extra, dict) and "examples" in extra and model.__name__ in components:
            components[model.__name__]["examples"] = extra["examples"]


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` by one that documents every route's problem responses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components["ProblemField"] = components["Problem"].pop("$defs")["ProblemField"]
        _restore_examples(components)
        # Included routers are opaque entries of app.routes: walk the effective routes.
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            declared = {int(s) for s in route.responses if str(s).isdigit() and int(s) >= 400}
            for method in route.methods or ():
                responses = schema["paths"][route.path_format][method.lower()]["responses"]
                responses.pop("422", None)
                for status in sorted(derived_statuses(route) | declared):
                    responses[str(status)] = _problem_response(status)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
