"""Who is signed in to the web tool and what each page lets them do.

``page(permission)`` is the dependency every page and action declares (as the JSON routes declare
``require``): the signed-in user, checked on the server against the same permission table, and
counted in the same staff rate limit. ``csrf_guard`` runs before every route of the web tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request

from parlay.accounts import usecases
from parlay.accounts.permissions import Permission, Principal
from parlay.accounts.websessions import SessionLifetime
from parlay.api.deps import budget, rate_limit
from parlay.lib.errors import Forbidden, ParlayError, Unauthenticated
from parlay.lib.ratelimit import ApiFamily
from parlay.services import Services
from parlay.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    WEB_ROOT,
    csrf_matches,
    same_origin,
)


class NotSignedIn(ParlayError):
    """No session, or it ended: the page answers with a redirect to the sign-in page."""

    status = 401


class PageForbidden(Forbidden):
    """The signed-in role may not open this page or do this action: a 403 page."""


class CsrfRefused(Forbidden):
    """A state-changing request without the session's token or from another origin."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page, and the token its forms send back."""

    principal: Principal
    csrf_token: str

    def can(self, permission: Permission) -> bool:
        return self.principal.can(permission)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def lifetime(services: Services) -> SessionLifetime:
    s = services.settings
    return SessionLifetime(
        idle=timedelta(seconds=s.web_session_idle_seconds),
        cap=timedelta(seconds=s.web_session_max_seconds),
    )


async def current_viewer(request: Request) -> Viewer | None:
    """The session's user, resolved once per request (cached on it); None when signed out."""
    if hasattr(request.state, "viewer"):
        cached: Viewer | None = request.state.viewer
        return cached
    viewer = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services = services_of(request)
        try:
            signed_in = await usecases.web_session(services.tx, token, lifetime(services))
            viewer = Viewer(signed_in.principal, signed_in.csrf_token)
        except Unauthenticated:
            viewer = None
    request.state.viewer = viewer
    return viewer


async def csrf_guard(request: Request) -> None:
    """Before every route: a POST/PUT/PATCH/DELETE must come from our own origin and, once signed
    in, carry the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
    Signing in has no session yet: the origin check (and SameSite cookies) cover it."""
    if request.method in SAFE_METHODS:
        return
    services = services_of(request)
    if not same_origin(request, services.settings.public_url):
        raise CsrfRefused("this form was not sent from Parlay's own pages")
    if request.url.path in SESSIONLESS_PATHS:
        return
    viewer = await current_viewer(request)
    if viewer is None:
        raise NotSignedIn()
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_matches(given, viewer.csrf_token):
        raise CsrfRefused("the form's security token is missing or out of date; reload the page")


# The only state-changing request without a session: signing in.
SESSIONLESS_PATHS = frozenset({f"{WEB_ROOT}/sign-in"})


def page(permission: Permission) -> Any:
    """The dependency of a page or action that needs ``permission``: the signed-in ``Viewer``;
    not signed in: a redirect to sign in; without the permission: a 403 page."""

    async def dependency(request: Request) -> Viewer:
        viewer = await current_viewer(request)
        if viewer is None:
            raise NotSignedIn()
        if not viewer.can(permission):
            raise PageForbidden(f"your role may not open this page ({permission.value})")
        services = services_of(request)
        key, per_second = budget(services, viewer.principal, ApiFamily.CONFIG)
        await rate_limit(services, ApiFamily.CONFIG, key, per_second)
        return viewer

    dependency.permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


async def signed_in(request: Request) -> Viewer:
    """Any signed-in staff user (the home page, signing out)."""
    viewer = await current_viewer(request)
    if viewer is None:
        raise NotSignedIn()
    return viewer
