"""ASGI middleware: request id + access log + metrics, and the request body size limit."""

from __future__ import annotations

import json
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlay.api.problems import PROBLEM_JSON
from parlay.lib.errors import HeadersTooLarge, InternalError, ParlayError, PayloadTooLarge
from parlay.lib.observability.logging import get_logger
from parlay.lib.observability.metrics import Metrics

log = get_logger("parlay.http")
REQUEST_ID_HEADER = b"x-request-id"
# A request's headers, all together (a JWT or two fit many times over), and how many there are.
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
# On every answer. The API's answers carry tokens and personal data: no cache keeps them, no
# browser guesses their type, no page frames them. HSTS is the TLS terminator's to send.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_NO_STORE = (b"cache-control", b"no-store")
# JSON needs nothing from a browser; HTML pages (the API reference) set their own sources.
_LOCKED_DOWN = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_NO_FRAMING = (b"content-security-policy", b"frame-ancestors 'none'")


def _with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in headers}
    added = [header for header in SECURITY_HEADERS if header[0] not in names]
    if b"cache-control" not in names:
        added.append(_NO_STORE)
    if b"content-security-policy" not in names:
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        added.append(_NO_FRAMING if content_type.startswith(b"text/html") else _LOCKED_DOWN)
    return headers + added


class RequestContextMiddleware:
    """Binds a request id to every log line of the request, echoes it, records metrics, and adds
    the security headers to every answer."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else (uuid.uuid4().hex)
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = _with_security_headers(list(message.get("headers", [])))
                headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, not by Starlette's outermost error handler, so that the 500 carries
            # the X-Request-ID and its log line the request_id (both are gone out there).
            if response_started:
                raise
            log.exception("unhandled error", path=scope["path"])
            await _send_problem(send_with_id, InternalError(), scope)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(template, scope["method"], str(status)).inc()
            self.metrics.http_latency.labels(template).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, whether announced by Content-Length or streamed,
    and headers over ``MAX_HEADER_BYTES`` with 431 (the server refuses larger ones earlier)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        if (
            len(headers) > MAX_HEADERS
            or sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES
        ):
            error = HeadersTooLarge(
                f"request headers exceed {MAX_HEADER_BYTES} bytes or {MAX_HEADERS} fields"
            )
            await _send_problem(send, error, scope)
            return
        declared = dict(headers).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # Chunked upload: read it whole (as the app would) and refuse once past the limit.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await _send_problem(
            send, PayloadTooLarge(f"request body exceeds {self.max_bytes} bytes"), scope
        )


async def _send_problem(send: Send, error: ParlayError, scope: Scope) -> None:
    """A problem+json response written at the ASGI level (outside FastAPI's handlers)."""
    body = json.dumps(error.problem(scope.get("path"))).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# The path as the client wrote it, before ``TrailingSlashMiddleware`` (a signature covers it).
ORIGINAL_PATH = "parlay.original_path"


WEB_PREFIX = "/app/"


class TrailingSlashMiddleware:
    """``/path/`` is served as ``/path``, without a redirect: LivePerson's clients write some
    paths with a trailing ``/``, and a 307 would make them send their body twice (or, for the
    ones that do not follow redirects, fail). Every route is declared without one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        # The web tool's pages keep their URLs as written (its home is /app/).
        if (
            scope["type"] == "http"
            and len(path) > 1
            and path.endswith("/")
            and not path.startswith(WEB_PREFIX)
        ):
            trimmed = path.rstrip("/") or "/"
            raw: bytes = scope.get("raw_path") or path.encode()
            scope = {
                **scope,
                "path": trimmed,
                "raw_path": raw.rstrip(b"/") or b"/",
                ORIGINAL_PATH: path,
            }
        await self.app(scope, receive, send)
