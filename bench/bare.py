"""The bare endpoint the API bench compares with: one `SELECT 1` per request.

A separate, tiny ASGI app (the API itself is not touched), built the way the
API is: FastAPI, a sync route run in the thread pool, the project's pooled
engine from gis.db.get_engine. Served by uvicorn with the same options as
`grid serve`, it gives the floor under any endpoint that talks to the database
once: HTTP parsing, routing, JSON, one pooled round trip.

Run: `uvicorn bench.bare:create_app --factory --port 8001`.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from gis.db import get_engine


def create_app() -> FastAPI:
    """GET /select1 (one SELECT 1) and GET /healthz."""
    app = FastAPI(title="bench: bare SELECT 1")
    engine = get_engine()

    @app.get("/select1")
    def select1() -> Response:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT 1")).scalar()
        return JSONResponse({"ok": value == 1})

    @app.get("/healthz")
    def healthz() -> Response:
        return select1()

    return app
