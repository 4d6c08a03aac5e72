"""The FastAPI application: lifespan, limits, error table, routers.

Handlers are thin: parse the request, call one function of gis/ or cases/,
shape the answer. The engine (connection pool) is created in the lifespan and
reached through `api.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api import errors
from api.routes import complaints, open311
from gis.db import get_engine, ping
from gis.settings import Settings, get_settings

MAX_BODY_BYTES = 256 * 1024
"""Largest request body accepted; more is refused with 413 before it is read."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application (tests build their own against the test database)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = get_engine(settings)
        yield

    app = FastAPI(title="community-grid 城管进社区网格化管理", version="0.1.0", lifespan=lifespan)
    errors.install(app)

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return errors.error_response(
                request,
                413,
                [
                    {
                        "code": "too_large",
                        "field": None,
                        "message": f"request body over {MAX_BODY_BYTES // 1024} KiB",
                    }
                ],
            )
        return await call_next(request)

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> Response:
        ok = ping(request.app.state.engine)
        return JSONResponse(
            {"ok": ok, "database": "up" if ok else "down"}, status_code=200 if ok else 503
        )

    app.include_router(complaints.router)
    app.include_router(open311.router)
    return app
