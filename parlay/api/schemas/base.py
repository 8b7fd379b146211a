"""Base shapes of the JSON API: camelCase on the wire, unknown fields refused on input."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

# A JSON number that is an integer: ``true`` is not 1 and ``"5"`` is not 5.
StrictInt = Annotated[int, Strict()]


class RequestModel(BaseModel):
    """A request body: only the documented camelCase fields, nothing else (400, 1000)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        extra="forbid",
        str_strip_whitespace=False,
    )


class ResponseModel(BaseModel):
    """A response body: built from Python names, serialized camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


def _is_none(value: Any) -> bool:
    return value is None


def omitted_when_none(description: str) -> Any:
    """A response field left out of the JSON when None (a channel shows no ``appIds: null``)."""
    return Field(default=None, exclude_if=_is_none, description=description)


def examples(*values: dict[str, Any]) -> ConfigDict:
    """``model_config`` of a body shape with its examples (shown in the API reference; a test
    validates each against the shape's own schema)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})
