"""The ASGI app: the JSON API (``parlay.api``) around the services the composition root built."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from parlay.api.docs_ui import install_docs
from parlay.api.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    TrailingSlashMiddleware,
)
from parlay.api.openapi import install_openapi, problems
from parlay.api.problems import install_problem_handlers
from parlay.lib.errors import NotFound, Unauthenticated
from parlay.services import Services


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    services: Services,
    *,
    on_startup: Callable[[], AsyncIterator[None]] | None = None,
) -> FastAPI:
    """Build the HTTP app around already wired services (``bootstrap.build_container``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup is None:
            await _prepare_demo_phone(app, services)
            yield
            return
        async with asynccontextmanager(on_startup)():
            await _prepare_demo_phone(app, services)
            yield

    app = FastAPI(
        title="Parlay",
        version="0.1.0",
        summary="IVR deflection and proactive messaging over push, SMS and WhatsApp.",
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
        # Served by install_docs from the package's own assets, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_problem_handlers(app)
    install_openapi(app)
    install_docs(app)
    _install_operational_routes(app, services)
    _include_domain_routers(app)
    _mount_demo_phone(app, services)
    _mount_web_tool(app, services)
    app.router.redirect_slashes = False
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=services.settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=services.metrics)
    return app


def _include_domain_routers(app: FastAPI) -> None:
    from parlay.api.routes.accounts import router as accounts_router
    from parlay.api.routes.agents import router as agent_router
    from parlay.api.routes.apps import router as apps_router
    from parlay.api.routes.c2m import router as c2m_router
    from parlay.api.routes.campaigns import router as campaigns_router
    from parlay.api.routes.channels import router as channels_router
    from parlay.api.routes.consumer_conversations import router as conversation_router
    from parlay.api.routes.consumers import router as consumer_router
    from parlay.api.routes.deliveries import router as deliveries_router
    from parlay.api.routes.handoffs import router as handoffs_router
    from parlay.api.routes.liveperson import router as liveperson_router
    from parlay.api.routes.provider_webhooks import router as provider_webhooks_router
    from parlay.api.routes.reporting import legacy_router as legacy_reporting_router
    from parlay.api.routes.reporting import router as reporting_router
    from parlay.api.routes.webhooks import router as webhooks_router

    for router in (
        accounts_router,
        handoffs_router,
        apps_router,
        channels_router,
        provider_webhooks_router,
        c2m_router,
        campaigns_router,
        deliveries_router,
        consumer_router,
        conversation_router,
        agent_router,
        reporting_router,
        legacy_reporting_router,
        liveperson_router,
        webhooks_router,
    ):
        app.include_router(router)


def _mount_demo_phone(app: FastAPI, services: Services) -> None:
    """``/demo/phone`` and its push proxy, only when ``parlay serve --demo`` asked for them."""
    settings = services.settings
    if settings.demo_phone_key_file is None or settings.demo_phone_url is None:
        return
    from parlay.web.demo import DemoPhone, router

    app.state.demo_phone = DemoPhone(settings.demo_phone_key_file, settings.demo_phone_url)
    app.include_router(router)


async def _prepare_demo_phone(app: FastAPI, services: Services) -> None:
    phone = getattr(app.state, "demo_phone", None)
    if phone is not None:
        await phone.prepare(services)


def _mount_web_tool(app: FastAPI, services: Services) -> None:
    """The web tool's pages at /app/ (``parlay.web``); ``/`` and ``/app`` lead there."""
    from parlay.web import WEB_ROOT, create_web_app

    @app.get("/", include_in_schema=False)
    @app.get(WEB_ROOT, include_in_schema=False)
    async def to_web_tool() -> Response:
        return RedirectResponse(f"{WEB_ROOT}/", status_code=307)

    app.mount(WEB_ROOT, create_web_app(services))


def _install_operational_routes(app: FastAPI, services: Services) -> None:
    @app.get(
        "/healthz",
        tags=["operations"],
        operation_id="healthz",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    )
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        operation_id="readyz",
        responses={
            200: {"content": {"application/json": {"example": {"status": "ok", "database": "ok"}}}},
            503: {
                "description": "The database does not answer.",
                "content": {
                    "application/json": {
                        "example": {"status": "unavailable", "database": "connection refused"}
                    }
                },
            },
        },
    )
    async def readyz() -> Response:
        """Readiness: the database answers."""
        try:
            await services.tx.db.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    token = services.settings.metrics_token

    @app.get(
        "/metrics",
        tags=["operations"],
        operation_id="metrics",
        response_class=PlainTextResponse,
        responses=problems(401, 404),
    )
    async def metrics(request: Request) -> Response:
        """Prometheus exposition, for ``Authorization: Bearer <PARLAY_METRICS_TOKEN>``; not
        served here when no token is configured (use ``PARLAY_METRICS_BIND``)."""
        if token is None:
            raise NotFound()
        if not bearer_matches(request.headers.get("authorization"), token.get_secret_value()):
            raise Unauthenticated("metrics need Authorization: Bearer <PARLAY_METRICS_TOKEN>")
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether ``Authorization`` is ``Bearer <token>``, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
