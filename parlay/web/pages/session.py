"""Signing in and out of the web tool, through the JSON login's own use case and throttle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from parlay.accounts import usecases
from parlay.lib.errors import RateLimited, Unauthenticated
from parlay.seed import read_demo_login
from parlay.web.auth import Viewer, lifetime, services_of, signed_in
from parlay.web.security import (
    SESSION_COOKIE,
    WEB_ROOT,
    clear_session_cookie,
    safe_next,
    set_session_cookie,
)
from parlay.web.templating import render

router = APIRouter()


def _form(
    request: Request,
    *,
    next_path: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings = services_of(request).settings
    demo_file = settings.web_demo_credentials_file
    demo = read_demo_login(demo_file) if demo_file is not None else None
    context = {
        "next": next_path,
        "values": values or {},
        "errors": errors or {},
        "demo": demo,
    }
    return render(request, "sign_in.html", context, status=status)


@router.get("/sign-in", name="web_sign_in_form")
async def sign_in_form(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    return _form(request, next_path=safe_next(next))


@router.post("/sign-in", name="web_sign_in")
async def sign_in(
    request: Request,
    account_id: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the password as ``POST /login`` does; open a session and go where ``next`` says."""
    next_path = safe_next(next)
    values = {"account_id": account_id.strip(), "username": username.strip()}
    missing = {
        field: message
        for field, given, message in (
            ("account_id", values["account_id"], "Enter your account ID."),
            ("username", values["username"], "Enter your username."),
            ("password", password, "Enter your password."),
        )
        if not given
    }
    if missing:
        return _form(request, next_path=next_path, values=values, errors=missing, status=400)
    services = services_of(request)
    attempt = usecases.LoginAttempt(
        values["account_id"],
        values["username"],
        password,
        request.client.host if request.client else None,
    )
    try:
        opened = await usecases.sign_in_web(
            services.tx, services.limiter, attempt, lifetime(services)
        )
    except Unauthenticated:
        wrong = "The account ID, username or password is wrong."
        errors = {"password": wrong}
        return _form(request, next_path=next_path, values=values, errors=errors, status=401)
    except RateLimited as exc:
        errors = {"password": f"Too many attempts. {exc.detail}. Try again later."}
        return _form(request, next_path=next_path, values=values, errors=errors, status=429)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, request, opened.token)
    return response


@router.post("/sign-out", name="web_sign_out")
async def sign_out(request: Request, _: Annotated[Viewer, Depends(signed_in)]) -> Response:
    """End the session (its row is deleted: the cookie opens nothing from now on)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await usecases.sign_out_web(services_of(request).tx, token)
    response = RedirectResponse(f"{WEB_ROOT}/sign-in", status_code=303)
    clear_session_cookie(response, request)
    return response
