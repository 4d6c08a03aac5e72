"""Routes: the complaint API (/api/v1): submit, follow, locate, catalogue.

Thin handlers: parse (api.schemas), call one function of cases/, shape the
answer. Errors are DomainErrors mapped by api.errors; nothing a client sends
produces a 500.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api.auth import CurrentPrincipal
from api.contract import REF, ApiErrors, api_errors, component, crs_schema, ok, schema_of
from api.deps import EngineDep, SettingsDep
from api.schemas import ComplaintIn, JsonBody, json_body, parse_model
from cases.catalogue import CATALOGUE_FILE, Catalogue, load_catalogue
from cases.idempotency import run_idempotent
from cases.intake import (
    MAX_ID,
    CaseView,
    PublicCaseView,
    get_case_by_token,
    locate_point,
)
from cases.intake import submit_complaint as submit
from cases.lifecycle.views import complaint_events_for, complaint_for
from gis.locate import Location

router = APIRouter(prefix="/api/v1", tags=["complaints"])

SCOPE = "api.v1.complaints"
_NO_LAYOUT = "no layout is loaded yet; the bureau must load one (grid demo / grid load)"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers={"X-Content-Type-Options": "nosniff", **(headers or {})},
    )


CaseId = Annotated[int, Path(gt=0, le=MAX_ID, description="the complaint's id")]
Token = Annotated[
    str,
    Path(
        max_length=64,
        description="the tracking token given when the complaint was filed",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]{8,32}$"},
    ),
]

CASE = schema_of(CaseView, "Case")
PUBLIC_CASE = schema_of(PublicCaseView, "PublicCase")
EVENTS = component(
    "CaseEvents",
    {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "at", "kind", "actor", "data"],
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "kind": {"type": "string"},
                "actor": {"type": ["string", "null"]},
                "data": {},
            },
        },
    },
)
LOCATION = schema_of(Location, "Location")
CATALOGUE = schema_of(Catalogue, "Catalogue")
SUBMISSION = {"$ref": REF + "ComplaintSubmission"}


def created(schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The 201 of a filed complaint: the case, and where to read it again."""
    answer = ok(schema, 201, "Filed (or merged into an open case it duplicates); also a replay")
    answer[201]["headers"] = {
        "Location": {
            "description": "/api/v1/complaints/{id} of the new case",
            "schema": {"type": "string", "pattern": "^/api/v1/complaints/[0-9]+$"},
        }
    }
    return answer


"""The body's schema; the app adds it with the catalogue's codes (api.app)."""


@router.post(
    "/complaints",
    status_code=201,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": SUBMISSION}}}
    },
    responses={
        **created(CASE),
        **api_errors(409, 413, 415, 422, 503),
    },
)
def create_complaint(
    body: Annotated[JsonBody, Depends(json_body)],
    engine: EngineDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="a retry with the same key and body gets the first answer",
            json_schema_extra={"maxLength": 200, "pattern": "^[ -~]*[!-~][ -~]*$"},
        ),
    ] = None,
) -> Response:
    """Submit a complaint: located, checked for duplicates, dispatched, in one go."""
    complaint = parse_model(ComplaintIn, body.data)
    filed: list[int] = []

    def produce() -> tuple[int, str, str]:
        view = submit(engine, complaint, source="api", settings=settings)
        filed.append(view.id)
        return 201, json.dumps(view.as_dict(), ensure_ascii=False), "application/json"

    try:
        if idempotency_key is None:
            status, text, media = produce()
        else:
            status, text, media = run_idempotent(
                engine, SCOPE, idempotency_key, body.canonical, produce
            )
    except LookupError:
        raise HTTPException(503, _NO_LAYOUT) from None
    headers = {"X-Content-Type-Options": "nosniff"}
    if status == 201:
        case_id = filed[0] if filed else json.loads(text)["id"]  # else: a replay
        headers["Location"] = f"/api/v1/complaints/{case_id}"
    return Response(text, status_code=status, media_type=media, headers=headers)


@router.get(
    "/complaints/by-token/{token}", responses={**ok(PUBLIC_CASE), **api_errors(404, 422, 503)}
)
def complaint_by_token(token: Token, engine: EngineDep, settings: SettingsDep) -> Response:
    """What a resident sees with their tracking token (no personal data)."""
    return _json(get_case_by_token(engine, token, settings).as_dict())


_UNAUTHORISED: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiErrors, "description": "Unauthorised: log in (bearer token) to read cases"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ApiErrors, "description": "Not found: no such complaint in the caller's scope"}
}


@router.get(
    "/complaints/{case_id}",
    responses={**ok(CASE), **_UNAUTHORISED, **_NOT_FOUND, **api_errors(422, 503)},
)
def complaint(
    case_id: CaseId, principal: CurrentPrincipal, engine: EngineDep, settings: SettingsDep
) -> Response:
    """One complaint for staff, in their scope: the reporter plain to who handles it,
    masked to other staff, null for analysts. Residents use /by-token/{token}."""
    return _json(complaint_for(engine, principal, case_id, settings))


@router.get(
    "/complaints/{case_id}/events",
    responses={**ok(EVENTS), **_UNAUTHORISED, **_NOT_FOUND, **api_errors(422, 503)},
)
def complaint_events(
    case_id: CaseId, principal: CurrentPrincipal, engine: EngineDep, settings: SettingsDep
) -> Response:
    """The events of one complaint, oldest first, for staff in whose scope it is."""
    return _json(complaint_events_for(engine, principal, case_id, settings))


@router.get("/locate", responses={**ok(LOCATION), **api_errors(422, 503)})
def locate(
    engine: EngineDep,
    settings: SettingsDep,
    lon: Annotated[
        float,
        Query(
            description="longitude (x) in crs (for a projected EPSG CRS: its x)",
            json_schema_extra={"minimum": -180, "maximum": 180},
        ),
    ],
    lat: Annotated[
        float,
        Query(
            description="latitude (y) in crs (for a projected EPSG CRS: its y)",
            json_schema_extra={"minimum": -90, "maximum": 90},
        ),
    ],
    crs: Annotated[str, Query(max_length=32, json_schema_extra=crs_schema(default=None))] = "wgs84",
) -> Response:
    """Where a point lies: the same answer as `grid locate --json`."""
    try:
        where = locate_point(engine, lon, lat, crs, settings)
    except LookupError:
        raise HTTPException(503, _NO_LAYOUT) from None
    return _json(where.as_dict())


@router.get("/catalogue", responses=ok(CATALOGUE))
def catalogue(settings: SettingsDep) -> Response:
    """The event catalogue: classes and subclasses with tiers, time limits, radii."""
    return _json(load_catalogue(settings.data_dir / CATALOGUE_FILE).as_dict())
