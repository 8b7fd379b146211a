"""What the client raises: one hierarchy, each API error carrying the problem+json fields the
server answered (``errorCode``, ``detail``, the faulty fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class ParlayClientError(Exception):
    """Anything the client raises on purpose."""


class TransportFailed(ParlayClientError):
    """Parlay could not be reached, or the connection broke (after the retries allowed)."""


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class ApiError(ParlayClientError):
    """An error answer of the API (RFC 9457 problem+json with Parlay's ``errorCode``)."""

    def __init__(
        self,
        status: int,
        *,
        detail: str,
        error_code: int | None = None,
        title: str | None = None,
        type: str | None = None,
        instance: str | None = None,
        errors: tuple[FieldProblem, ...] = (),
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            f"{status} {detail}" if error_code is None else f"{status} [{error_code}] {detail}"
        )
        self.status = status
        self.detail = detail
        self.error_code = error_code
        self.title = title
        self.type = type
        self.instance = instance
        self.errors = errors
        self.request_id = request_id
        self.retry_after = retry_after


class BadRequest(ApiError):
    """400: the request itself is wrong; ``errors`` names the fields."""


class Unauthorized(ApiError):
    """401: no valid credential."""


class Forbidden(ApiError):
    """403: the credential's role or scope does not allow this route."""


class NotFound(ApiError):
    """404: no such resource in this account."""


class Conflict(ApiError):
    """409: the state forbids it, or an ``Idempotency-Key`` was reused with another body."""


class RateLimited(ApiError):
    """429, still after the retries allowed: ``retry_after`` says how long to wait."""


class ServerError(ApiError):
    """5xx: Parlay or a dependency of it failed (503: unavailable for now)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (Parlay sends whole seconds), or None."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def api_error(response: httpx.Response) -> ApiError:
    """The typed error of an error answer, from its problem+json body when it has one."""
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    raw_errors = body.get("errors")
    errors = tuple(
        FieldProblem(str(e.get("field", "")), str(e.get("message", "")))
        for e in (raw_errors if isinstance(raw_errors, list) else [])
        if isinstance(e, dict)
    )
    code = body.get("errorCode")
    kind = _BY_STATUS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else ApiError
    return kind(
        response.status_code,
        detail=str(body.get("detail") or response.reason_phrase or "error"),
        error_code=code if isinstance(code, int) else None,
        title=body.get("title"),
        type=body.get("type"),
        instance=body.get("instance"),
        errors=errors,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after(response),
    )
