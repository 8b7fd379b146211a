"""The session cookie, the CSRF token and the origin check of the web tool (no business rules)."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

WEB_ROOT = "/app"
SESSION_COOKIE = "parlay_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})


def is_loopback(request: Request) -> bool:
    host = request.url.hostname or ""
    return host in _LOOPBACK or host.startswith("127.")


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no cross-site form posts carry it), and
    Secure except on a loopback host, where a developer runs without TLS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path=f"{WEB_ROOT}/",
        httponly=True,
        samesite="lax",
        secure=not is_loopback(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=f"{WEB_ROOT}/",
        httponly=True,
        samesite="lax",
        secure=not is_loopback(request),
    )


def own_origin(request: Request, public_url: str | None) -> str:
    """The origin pages are served from: the public address when one is set (behind a proxy the
    request says another), else the request's own."""
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()
    return f"{request.url.scheme}://{request.url.netloc}".lower()


def same_origin(request: Request, public_url: str | None) -> bool:
    """Whether a state-changing request comes from our own pages: its ``Origin`` (or, when a
    browser sends none, its ``Referer``) is our origin. Neither header: refused."""
    expected = own_origin(request, public_url)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin.lower() == expected
    referer = request.headers.get("referer")
    if not referer:
        return False
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}".lower() == expected


def csrf_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of the web tool, else its home. A full URL, a
    scheme-relative ``//host`` or a backslash trick never leaves the site."""
    home = f"{WEB_ROOT}/"
    if not value or "\\" in value or any(ord(c) < 32 for c in value):
        return home
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return home
    if parts.path != home and not parts.path.startswith(home):
        return home
    return value
