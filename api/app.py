"""The FastAPI application: lifespan, limits, error table, routers, contract.

Handlers are thin: parse the request, call one function of gis/ or cases/,
shape the answer. The engine (connection pool) is created in the lifespan and
reached through `api.deps`. The only middleware is plain ASGI (api.limits);
the OpenAPI document is api.contract's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from api import auth, contract, errors
from api.limits import BodyLimit
from api.routes import auth as auth_routes
from api.routes import cases as cases_routes
from api.routes import complaints, docs, maps, open311, open311_contract, pages
from api.routes import duty as duty_routes
from api.routes import indicators as indicator_routes
from api.routes import ledgers as ledger_routes
from api.routes import reports as report_routes
from api.schemas import complaint_schema
from api.sweeper import escalation_task
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from gis.db import get_engine, ping
from gis.privacy import require_key_at_start
from gis.settings import Settings, get_settings

HEALTH = contract.component(
    "Health",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["ok", "database"],
        "properties": {"ok": {"type": "boolean"}, "database": {"enum": ["up", "down"]}},
    },
)

DESCRIPTION = """\
城管进社区网格化管理: complaints located to the unit grid and dispatched (/api/v1),
and Open311 GeoReport v2 (/open311/v2, `.json` or `.xml`).

Errors: under /api/v1 and /healthz the body is `ApiErrors`; under /open311/v2 the
spec's `Open311Errors` (JSON) or `<errors>` (XML). A method a path does not list is
answered 405 with `Allow`. Request bodies over {limit} KiB are refused with 413, also
when sent chunked without Content-Length.
"""


def _document_edits(settings: Settings) -> list[Any]:
    """What only this app knows: the catalogue's codes, the body limit."""
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    codes = [s.code for s in catalogue.subclasses]

    def edit(doc: dict[str, Any]) -> None:
        schemas = doc["components"]["schemas"]
        schemas["SubclassCode"] = contract.codes_enum(codes, "a subclass code of the catalogue")
        schemas["ComplaintSubmission"] = complaint_schema(
            {"$ref": contract.REF + "SubclassCode"}, contract.crs_schema()
        )
        open311_contract.document(doc)
        if settings.open311_get_requires_key:
            open311.keyed_gets_document(doc)

    return [edit]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application (tests build their own against the test database)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = get_engine(settings)
        # A missing or wrong personal-data key stops start-up (gis.privacy).
        require_key_at_start(app.state.engine, settings)
        async with escalation_task(app.state.engine, settings):
            yield

    app = FastAPI(
        title="community-grid 城管进社区网格化管理",
        version="0.1.0",
        description=DESCRIPTION.format(limit=settings.api_max_body_bytes // 1024),
        lifespan=lifespan,
        # /docs is api.routes.docs (Swagger UI from /static, not a CDN); no /redoc.
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry here: with it on, FastAPI looks for configured providers
        # on every request (an import-system lookup each time), for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    app.add_middleware(
        BodyLimit,
        limit=settings.api_max_body_bytes,
        larger={"/api/v1/patrols": settings.api_max_track_bytes},
    )

    @app.get(
        "/healthz",
        tags=["health"],
        responses={
            **contract.ok(HEALTH, 200, "The database is reachable"),
            503: {
                "description": "The database is not reachable",
                "content": {"application/json": {"schema": HEALTH}},
            },
        },
    )
    def healthz(request: Request) -> Response:
        """200 while the database answers, 503 (with the same body) while it does not."""
        ok = ping(request.app.state.engine)
        return Response(
            b'{"ok":true,"database":"up"}' if ok else b'{"ok":false,"database":"down"}',
            status_code=200 if ok else 503,
            media_type="application/json",
        )

    app.include_router(complaints.router)
    app.include_router(open311.router)
    app.include_router(cases_routes.router)
    cases_routes.install(app)
    app.include_router(auth_routes.router)
    auth.install(app)
    app.include_router(maps.router)
    app.include_router(duty_routes.router)
    app.include_router(ledger_routes.router)
    app.include_router(indicator_routes.router)
    app.include_router(report_routes.router)
    app.include_router(docs.router)  # /docs, offline
    pages.install(app)  # the HTML pages (not in the contract), their error pages, /static
    contract.install(app, _document_edits(settings))
    return app
