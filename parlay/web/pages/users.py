"""Users and agents: the account's staff users, their roles, and the skills and number of
conversations an agent takes. Admins change them; agent managers see them."""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from parlay.accounts import usecases
from parlay.accounts.permissions import Permission
from parlay.accounts.service import UserChanges, UserView
from parlay.api.schemas.accounts import Role, UserCreate, UserUpdate
from parlay.lib.errors import Conflict, ParlayError
from parlay.web.auth import Viewer, page, services_of
from parlay.web.pages.formdata import (
    chosen,
    optional,
    refusal,
    text,
    top_level,
    validation_errors,
    whole_number,
)
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

ROLE_TITLES = {
    "admin": "Admin",
    "campaign_manager": "Campaign manager",
    "agent_manager": "Agent manager",
    "agent": "Agent",
}
ROLES = [(role, ROLE_TITLES[role]) for role in get_args(Role)]
TYPES = [("human", "A person"), ("bot", "A bot (agent role only)")]
_namer = top_level(
    {"username", "password", "roles", "type", "skills", "max_concurrent_conversations"}
)


def _values(form: FormData) -> dict[str, Any]:
    return {
        "username": text(form, "username"),
        "roles": chosen(form, "roles"),
        "type": text(form, "type") or "human",
        "skills": chosen(form, "skills"),
        "max_concurrent_conversations": text(form, "max_concurrent_conversations"),
    }


async def _skills(request: Request, viewer: Viewer) -> list[tuple[str, str]]:
    skills = await usecases.list_skills(services_of(request).tx, viewer.principal.account_id)
    return [(s.name, s.name) for s in skills]


async def _list_page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    views = await usecases.list_users(services_of(request).tx, viewer.principal.account_id)
    context = {
        "users": views,
        "role_titles": ROLE_TITLES,
        "roles": ROLES,
        "types": TYPES,
        "skills": await _skills(request, viewer),
        "can_write": viewer.can(Permission.USERS_WRITE),
        "values": values
        or {"roles": ["agent"], "type": "human", "skills": [], "max_concurrent_conversations": "3"},
        "errors": errors or {},
        "created": request.query_params.get("created"),
    }
    return render(request, "users/list.html", context, status=status)


@router.get("/users", name="web_users")
async def users(
    request: Request, viewer: Annotated[Viewer, page(Permission.USERS_READ)]
) -> Response:
    return await _list_page(request, viewer)


@router.post("/users", name="web_create_user")
async def create_user(
    request: Request, viewer: Annotated[Viewer, page(Permission.USERS_WRITE)]
) -> Response:
    form = await request.form()
    values = _values(form)
    body_in = {
        "username": values["username"],
        "password": text(form, "password"),
        "roles": values["roles"],
        "type": values["type"],
        "skills": values["skills"],
    }
    number = whole_number(values["max_concurrent_conversations"])
    if number is not None:
        body_in["maxConcurrentConversations"] = number
    try:
        body = UserCreate.model_validate(body_in)
    except ValidationError as exc:
        errors = validation_errors(exc, _namer)
        return await _list_page(request, viewer, values=values, errors=errors, status=400)
    user = usecases.NewUser(
        username=body.username,
        password=body.password,
        roles=list(body.roles),
        type=body.type,
        skills=body.skills,
        max_concurrent_conversations=body.max_concurrent_conversations,
    )
    try:
        await usecases.create_user(services_of(request).tx, viewer.principal.account_id, user)
    except Conflict:
        errors = {"username": f"A user named “{body.username}” already exists."}
        return await _list_page(request, viewer, values=values, errors=errors, status=409)
    except ParlayError as exc:
        errors = refusal(exc, _namer)
        return await _list_page(request, viewer, values=values, errors=errors, status=exc.status)
    query = urlencode({"created": body.username})
    return RedirectResponse(f"{WEB_ROOT}/users?{query}", status_code=303)


def _values_of(view: UserView) -> dict[str, Any]:
    return {
        "roles": list(view.user.roles),
        "skills": list(view.skills),
        "max_concurrent_conversations": str(view.user.max_concurrent_conversations),
    }


async def _user_page(
    request: Request,
    viewer: Viewer,
    view: UserView,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "user": view.user,
        "user_skills": view.skills,
        "role_titles": ROLE_TITLES,
        "roles": ROLES,
        "skills": await _skills(request, viewer),
        "can_write": viewer.can(Permission.USERS_WRITE),
        "values": values or _values_of(view),
        "errors": errors or {},
        "saved": request.query_params.get("saved"),
    }
    return render(request, "users/user.html", context, status=status)


@router.get("/users/{user_id}", name="web_user")
async def user_page(
    request: Request, user_id: int, viewer: Annotated[Viewer, page(Permission.USERS_READ)]
) -> Response:
    view = await usecases.get_user(services_of(request).tx, viewer.principal.account_id, user_id)
    return await _user_page(request, viewer, view)


@router.post("/users/{user_id}", name="web_update_user")
async def update_user(
    request: Request, user_id: int, viewer: Annotated[Viewer, page(Permission.USERS_WRITE)]
) -> Response:
    """Change roles, skills, maximum conversations and (when typed) the password."""
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    view = await usecases.get_user(tx, account_id, user_id)
    form = await request.form()
    values = _values(form)
    body_in: dict[str, Any] = {
        "roles": values["roles"],
        "skills": values["skills"],
        "maxConcurrentConversations": whole_number(values["max_concurrent_conversations"]),
    }
    password = optional(form, "password")
    if password is not None:
        body_in["password"] = password
    try:
        body = UserUpdate.model_validate(body_in)
        changes = UserChanges(
            password=body.password,
            roles=body.roles,
            skills=body.skills,
            max_concurrent_conversations=body.max_concurrent_conversations,
        )
        await usecases.update_user(tx, account_id, user_id, changes)
    except ValidationError as exc:
        errors = validation_errors(exc, _namer)
        return await _user_page(request, viewer, view, values=values, errors=errors, status=400)
    except ParlayError as exc:
        if exc.status == 404:
            raise
        errors = refusal(exc, _namer)
        return await _user_page(
            request, viewer, view, values=values, errors=errors, status=exc.status
        )
    return _back(user_id, "saved")


def _back(user_id: int, what: str) -> Response:
    query = urlencode({"saved": what})
    return RedirectResponse(f"{WEB_ROOT}/users/{user_id}?{query}", status_code=303)


async def _set_disabled(request: Request, viewer: Viewer, user_id: int, disabled: bool) -> Response:
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    try:
        await usecases.update_user(tx, account_id, user_id, UserChanges(disabled=disabled))
    except Conflict as exc:
        view = await usecases.get_user(tx, account_id, user_id)
        return await _user_page(
            request, viewer, view, errors={"form": refusal(exc, _namer)["form"]}, status=409
        )
    return _back(user_id, "disabled" if disabled else "enabled")


@router.post("/users/{user_id}/disable", name="web_disable_user")
async def disable_user(
    request: Request, user_id: int, viewer: Annotated[Viewer, page(Permission.USERS_WRITE)]
) -> Response:
    """Disable: the user cannot sign in, and their sessions and tokens end at once."""
    return await _set_disabled(request, viewer, user_id, True)


@router.post("/users/{user_id}/enable", name="web_enable_user")
async def enable_user(
    request: Request, user_id: int, viewer: Annotated[Viewer, page(Permission.USERS_WRITE)]
) -> Response:
    return await _set_disabled(request, viewer, user_id, False)
