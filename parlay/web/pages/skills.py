"""Skills: the account's routing skills, and a form to add one (the JSON API's use cases and
its request schema, so the rules are the same)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from parlay.accounts import usecases
from parlay.accounts.permissions import Permission
from parlay.api.schemas.accounts import SkillCreate
from parlay.lib.errors import Conflict
from parlay.web.auth import Viewer, page, services_of
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

_NAME_RULE = "A name of 1 to 255 characters, without spaces at either end."


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    created: str | None = None,
    name: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    skills = await usecases.list_skills(services_of(request).tx, viewer.principal.account_id)
    context = {
        "skills": skills,
        "created": created,
        "can_write": viewer.can(Permission.SKILLS_WRITE),
        "values": {"name": name},
        "errors": {"name": error} if error else {},
        "name_rule": _NAME_RULE,
    }
    return render(request, "skills.html", context, status=status)


@router.get("/skills", name="web_skills")
async def skills(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.SKILLS_READ)],
    created: Annotated[str | None, Query()] = None,
) -> Response:
    return await _page(request, viewer, created=created)


@router.post("/skills", name="web_create_skill")
async def create_skill(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.SKILLS_WRITE)],
    name: Annotated[str, Form()] = "",
) -> Response:
    """Add a skill; a name the API would refuse comes back beside the field."""
    try:
        body = SkillCreate.model_validate({"name": name})
    except ValidationError:
        return await _page(request, viewer, name=name, error=_NAME_RULE, status=400)
    try:
        await usecases.create_skill(services_of(request).tx, viewer.principal.account_id, body.name)
    except Conflict:
        error = f"A skill named “{body.name}” already exists."
        return await _page(request, viewer, name=name, error=error, status=409)
    query = urlencode({"created": body.name})
    return RedirectResponse(f"{WEB_ROOT}/skills?{query}", status_code=303)
