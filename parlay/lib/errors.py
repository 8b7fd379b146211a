"""One error hierarchy, rendered as RFC 9457 problem+json with ``errorCode``/``errorMessage``.

Services raise these; ``parlay.api.problems`` turns them (and framework errors) into responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """The stable numeric error codes (docs/api.md#error-codes)."""

    INVALID_REQUEST = 1000
    INVALID_PHONE_NUMBER = 1001
    UNSUPPORTED_API_VERSION = 1002
    NOT_FOUND = 1004
    METHOD_NOT_ALLOWED = 1005
    UNSUPPORTED_MEDIA_TYPE = 1015
    RATE_LIMITED = 1029
    IDEMPOTENCY_KEY_REUSED = 1030
    UNAUTHENTICATED = 1100
    FORBIDDEN = 1101
    NO_SUCH_SKILL = 1300
    CANNOT_SEND = 1400
    NO_SUCH_HANDOFF = 1500
    HANDOFF_NO_USABLE_CHANNEL = 1501
    OVERRIDE_CHANNEL_NOT_AVAILABLE = 1900
    OVERRIDE_SKILL_NOT_ALLOWED = 1901
    INTERNAL = 5000


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ParlayError(Exception):
    """Base of every error Parlay answers deliberately."""

    status: int = 400
    code: ErrorCode = ErrorCode.INVALID_REQUEST
    title: str = "Invalid request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        code: ErrorCode | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        if code is not None:
            self.code = code
        self.extra = extra or {}
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://parlay.dev/problems/{self.code.value}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "errorCode": int(self.code),
            "errorMessage": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class InvalidRequest(ParlayError):
    pass


def invalid_field(field: str, message: str, code: ErrorCode | None = None) -> InvalidRequest:
    """A 400 about one field, with the field named in ``errors``."""
    return InvalidRequest(f"{field}: {message}", errors=[FieldError(field, message)], code=code)


class InvalidPhoneNumber(ParlayError):
    code = ErrorCode.INVALID_PHONE_NUMBER
    title = "Invalid phone number"


class UnsupportedApiVersion(ParlayError):
    code = ErrorCode.UNSUPPORTED_API_VERSION
    title = "Unsupported API version"


class Unauthenticated(ParlayError):
    status = 401
    code = ErrorCode.UNAUTHENTICATED
    title = "Unauthenticated"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ParlayError):
    status = 403
    code = ErrorCode.FORBIDDEN
    title = "Forbidden"


class NotFound(ParlayError):
    status = 404
    code = ErrorCode.NOT_FOUND
    title = "Not found"


class Conflict(ParlayError):
    status = 409
    title = "Conflict"


class IdempotencyKeyReused(ParlayError):
    status = 409
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    title = "Idempotency key reused"


class RateLimited(ParlayError):
    status = 429
    code = ErrorCode.RATE_LIMITED
    title = "Too many requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})
        self.retry_after_seconds = retry_after_seconds


class PayloadTooLarge(ParlayError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(ParlayError):
    status = 415
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    title = "Unsupported media type"


class HeadersTooLarge(ParlayError):
    status = 431
    title = "Request header fields too large"


class InternalError(ParlayError):
    """A failure Parlay did not answer deliberately: the answer says no more (the log does)."""

    status = 500
    code = ErrorCode.INTERNAL
    title = "Internal error"

    def __init__(self) -> None:
        super().__init__("internal error")


class NoSuchSkill(ParlayError):
    code = ErrorCode.NO_SUCH_SKILL
    title = "No such skill"


class NoSuchHandoff(ParlayError):
    code = ErrorCode.NO_SUCH_HANDOFF
    title = "No such handoff"


class HandoffNoUsableChannel(ParlayError):
    code = ErrorCode.HANDOFF_NO_USABLE_CHANNEL
    title = "Handoff has no usable channel"


class CannotSend(ParlayError):
    code = ErrorCode.CANNOT_SEND
    title = "Cannot send"


class OverrideChannelNotAvailable(ParlayError):
    code = ErrorCode.OVERRIDE_CHANNEL_NOT_AVAILABLE
    title = "Override channel not available"


class OverrideSkillNotAllowed(ParlayError):
    code = ErrorCode.OVERRIDE_SKILL_NOT_ALLOWED
    title = "Override skill not allowed"


class ServiceUnavailable(ParlayError):
    """A dependency Parlay cannot do without right now (the brand's JWKS endpoint, say)."""

    status = 503
    code = ErrorCode.INTERNAL
    title = "Service unavailable"
