"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from parlay.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from parlay.api.problems import install_problem_handlers
from parlay.bootstrap import Container


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    container: Container,
    *,
    on_startup: Callable[[], AsyncIterator[None]] | None = None,
) -> FastAPI:
    """Build the HTTP app around an already wired container."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_startup is None:
            yield
            return
        async with asynccontextmanager(on_startup)():
            yield

    app = FastAPI(
        title="Parlay",
        version="0.1.0",
        summary="IVR deflection and proactive messaging over push, SMS and WhatsApp.",
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.state.container = container
    install_problem_handlers(app)
    _install_operational_routes(app, container)
    _include_domain_routers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=container.metrics)
    return app


def _include_domain_routers(app: FastAPI) -> None:
    from parlay.accounts.api import router as accounts_router
    from parlay.apps.api import router as apps_router
    from parlay.consumers.api import router as consumer_router
    from parlay.conversations.agent_api import router as agent_router
    from parlay.conversations.consumer_api import router as conversation_router
    from parlay.handoffs.api import router as handoffs_router
    from parlay.outbound.api import router as campaigns_router
    from parlay.outbound.c2m_api import router as c2m_router

    for router in (
        accounts_router,
        handoffs_router,
        apps_router,
        c2m_router,
        campaigns_router,
        consumer_router,
        conversation_router,
        agent_router,
    ):
        app.include_router(router)


def _install_operational_routes(app: FastAPI, container: Container) -> None:
    @app.get("/healthz", tags=["operations"], operation_id="healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], operation_id="readyz")
    async def readyz() -> Response:
        """Readiness: the database answers."""
        try:
            async with container.db.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.get("/metrics", tags=["operations"], operation_id="metrics", include_in_schema=True)
    async def metrics() -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)
