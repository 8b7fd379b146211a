"""Every page and action of the web tool declares the permission it needs, and the nav offers
exactly the pages a role may open."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from parlay.accounts.permissions import Permission
from parlay.web.nav import PAGES

pytestmark = pytest.mark.anyio

# Open to anyone signed in (or to no one yet): signing in and out, and the home page.
WITHOUT_PERMISSION = {
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-out"),
    ("GET", "/"),
}


def _web_routes(app: FastAPI) -> dict[tuple[str, str], Permission | None]:
    web = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/app")
    assert isinstance(web.app, FastAPI)
    declared: dict[tuple[str, str], Permission | None] = {}
    # iter_route_contexts: FastAPI keeps each included router as one opaque entry (tests/routes.py).
    for route in iter_route_contexts(web.app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None or route.path is None:
            continue  # the static files
        permissions = [
            d.call.permission for d in dependant.dependencies if hasattr(d.call, "permission")
        ]
        for method in route.methods or ():
            declared[(method, route.path)] = permissions[0] if permissions else None
    return declared


async def test_every_page_and_action_declares_its_permission(app: FastAPI) -> None:
    declared = _web_routes(app)
    undeclared = {key for key, permission in declared.items() if permission is None}
    assert undeclared == WITHOUT_PERMISSION


async def test_the_nav_offers_a_page_under_the_permission_its_route_declares(app: FastAPI) -> None:
    declared = _web_routes(app)
    for item in PAGES:
        assert declared[("GET", item.path.removeprefix("/app"))] == item.permission, item
