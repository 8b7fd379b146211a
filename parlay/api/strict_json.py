"""JSON bodies parsed strictly: ``NaN``/``Infinity`` and duplicate keys are refused (400).

Python's ``json`` accepts both by default. ``NaN`` is not JSON (RFC 8259) and breaks whatever
stores or forwards it; with a duplicate key, Parlay and a proxy or log in front of it could each
see a different value. Every API router is built by ``api_router`` so that each of its routes
parses this way. Refusing duplicates costs ~7% of the parse: 164 against 154 ms for an 8.3 MB
body of 100,000 campaign consumers on this machine (the whole accept takes ~1.4 s).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response, params
from fastapi.routing import APIRoute

from parlay.lib.errors import UnsupportedMediaType

# A decode error with this position carries a reason but no place in the body.
NO_POSITION = -1


class StrictJSONError(json.JSONDecodeError):
    def __init__(self, reason: str, doc: str) -> None:
        super().__init__(reason, doc, 0)
        self.pos = NO_POSITION


def _first_duplicate(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no duplicate")


def strict_loads(body: bytes) -> Any:
    """The JSON value of ``body`` (UTF-8, as RFC 8259 requires), or a ``JSONDecodeError``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError("the body is not UTF-8", "") from exc

    def refuse_constant(name: str) -> Any:
        raise StrictJSONError(f"{name} is not a JSON number", text)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise StrictJSONError(f"duplicate key {_first_duplicate(pairs)!r}", text)
        return result

    return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=unique_keys)


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


def is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type, parameters (``charset``) aside."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = self.body_field is not None and not isinstance(
            self.body_field.field_info, params.Form
        )

        async def strict_handler(request: Request) -> Response:
            # A body of another media type is 415 (LivePerson's 1015), not a JSON error: a
            # client that sent a form or XML learns what it did wrong. No Content-Type at all is
            # read as JSON (some bare clients send none).
            content_type = request.headers.get("content-type")
            if takes_json and content_type and not is_json(content_type):
                raise UnsupportedMediaType(
                    f"a body of type {content_type.split(';', 1)[0]!r}: send application/json"
                )
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def api_router(**options: Any) -> APIRouter:
    """An ``APIRouter`` whose routes parse JSON bodies strictly."""
    return APIRouter(route_class=StrictJSONRoute, **options)
