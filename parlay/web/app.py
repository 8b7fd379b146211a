"""The web tool's ASGI app, mounted by ``parlay.app.create_app`` at ``/app``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from parlay.lib.errors import ParlayError
from parlay.lib.observability.logging import get_logger
from parlay.services import Services
from parlay.web.auth import NotSignedIn, csrf_guard
from parlay.web.pages import (
    apikeys,
    apps,
    campaigns,
    channels,
    dashboard,
    handoffs,
    home,
    session,
    settings,
    skills,
    users,
    webhooks,
    workspace,
)
from parlay.web.security import WEB_ROOT, clear_session_cookie
from parlay.web.templating import HERE, render

log = get_logger("parlay.web")

__all__ = ["WEB_ROOT", "create_web_app"]


def create_web_app(services: Services) -> FastAPI:
    """The pages, their static files and their error pages (HTML, where the API answers JSON)."""
    web = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(csrf_guard)],
    )
    web.state.services = services
    web.router.redirect_slashes = False
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (
        session.router,
        home.router,
        dashboard.router,
        campaigns.router,
        skills.router,
        handoffs.router,
        apikeys.router,
        users.router,
        webhooks.router,
        apps.router,
        channels.router,
        settings.router,
        workspace.router,
    ):
        web.include_router(router)
    _install_error_pages(web)
    return web


def _install_error_pages(web: FastAPI) -> None:
    @web.exception_handler(NotSignedIn)
    async def _sign_in_first(request: Request, _: NotSignedIn) -> Response:
        target = request.url.path
        if request.url.query:
            target = f"{target}?{request.url.query}"
        sign_in = f"{WEB_ROOT}/sign-in?next={quote(target, safe='')}"
        if request.headers.get("hx-request"):
            # htmx follows a redirect inside the page; HX-Redirect sends the whole tab.
            response: Response = Response(status_code=401, headers={"HX-Redirect": sign_in})
        else:
            response = RedirectResponse(sign_in, status_code=303)
        clear_session_cookie(response, request)
        return response

    @web.exception_handler(ParlayError)
    async def _error_page(request: Request, exc: ParlayError) -> Response:
        return _page(request, exc.status, exc.title, exc.detail)

    @web.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, _: RequestValidationError) -> Response:
        return _page(request, 400, "Bad request", "The form was not complete; reload the page.")

    @web.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _page(request, 404, "Not found", "There is no page here.")
        return _page(request, exc.status_code, "Error", str(exc.detail))

    @web.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", path=request.url.path)
        return _page(request, 500, "Something went wrong", "The error was logged.")


def _page(request: Request, status: int, title: str, detail: str | None) -> Response:
    return render(
        request, "error.html", {"status": status, "title": title, "detail": detail}, status=status
    )
