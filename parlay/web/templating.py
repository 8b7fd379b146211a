"""Rendering a page: the Jinja2 templates (autoescaped) with what the base layout needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from parlay.web.nav import visible_pages
from parlay.web.security import CSRF_FIELD, CSRF_HEADER, WEB_ROOT

HERE = Path(__file__).resolve().parent
# Every value is escaped unless a template says otherwise.
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
    )
)

# Pages carry the user's data: never cached, never framed (clickjacking), scripts and styles
# from our own origin only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    """``template`` with the base layout's context: the signed-in viewer (if any), the pages of
    the nav they may open, and the CSRF token for forms and htmx."""
    viewer = getattr(request.state, "viewer", None)
    base: dict[str, Any] = {
        "viewer": viewer,
        "nav": visible_pages(viewer.principal) if viewer is not None else [],
        "csrf_token": viewer.csrf_token if viewer is not None else "",
        "csrf_field": CSRF_FIELD,
        "csrf_header": CSRF_HEADER,
        "root": WEB_ROOT,
        "path": request.url.path,
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status, headers=PAGE_HEADERS
    )
    return response
