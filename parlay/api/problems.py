"""Every error response, from one place: RFC 9457 problem+json with ``errorCode``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from parlay.api.strict_json import NO_POSITION
from parlay.lib.errors import (
    ErrorCode,
    FieldError,
    InternalError,
    InvalidRequest,
    NotFound,
    ParlayError,
)
from parlay.lib.observability.logging import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger("parlay.lib.errors")


def problem_response(error: ParlayError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        error.problem(instance),
        status_code=error.status,
        headers=error.headers,
        media_type=PROBLEM_JSON,
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    # A body field by its dotted path, a parameter by its own name (`cursor`, `Idempotency-Key`).
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    message = str(err.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _field_error(err: dict[str, Any]) -> FieldError:
    if err.get("type") == "json_invalid":
        # Its loc is ("body", <character offset>): the field is the body, the offset a hint.
        # A strictness refusal (api.strict_json) has no offset but says what it refused.
        where = [p for p in err.get("loc", ()) if isinstance(p, int)]
        if where and where[0] == NO_POSITION:
            reason = err.get("ctx", {}).get("error", "")
            return FieldError("body", f"body is not valid JSON: {reason}")
        suffix = f" (at character {where[0]})" if where else ""
        return FieldError("body", f"body is not valid JSON{suffix}")
    return FieldError(_field_name(tuple(err["loc"])), _validation_message(err))


def validation_problem(exc: RequestValidationError) -> InvalidRequest:
    errors = [_field_error(e) for e in exc.errors()]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return InvalidRequest(summary or "invalid request", errors=errors)


_STATUS_TITLES = {
    404: ("Not found", ErrorCode.NOT_FOUND),
    405: ("Method not allowed", ErrorCode.METHOD_NOT_ALLOWED),
    415: ("Unsupported media type", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ParlayError)
    async def _parlay_error(request: Request, exc: ParlayError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return problem_response(NotFound(), request)
        title, code = _STATUS_TITLES.get(exc.status_code, ("Error", ErrorCode.INVALID_REQUEST))
        error = ParlayError(
            str(exc.detail) if exc.detail else title, code=code, headers=dict(exc.headers or {})
        )
        error.status = exc.status_code
        error.title = title
        return problem_response(error, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem_response(InternalError(), request)
