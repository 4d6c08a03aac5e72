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

from api.deps import EngineDep, SettingsDep
from api.schemas import ComplaintIn, JsonBody, json_body, parse_model
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.idempotency import run_idempotent
from cases.intake import MAX_ID, case_events, get_case, get_case_by_token, locate_point
from cases.intake import submit_complaint as submit

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


@router.post(
    "/complaints",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ComplaintIn.model_json_schema()}},
        }
    },
    responses={
        409: {"description": "Idempotency-Key reused with another body"},
        413: {"description": "body too large"},
        415: {"description": "not JSON"},
        422: {"description": "invalid field(s), named in detail[].field"},
    },
)
def create_complaint(
    body: Annotated[JsonBody, Depends(json_body)],
    engine: EngineDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Submit a complaint: located, checked for duplicates, dispatched, in one go."""
    complaint = parse_model(ComplaintIn, body.data)

    def produce() -> tuple[int, str, str]:
        view = submit(engine, complaint, source="api", settings=settings)
        return 201, json.dumps(view.as_dict(), ensure_ascii=False), "application/json"

    try:
        status, text, media = run_idempotent(
            engine, SCOPE, idempotency_key, body.canonical, produce
        )
    except LookupError:
        raise HTTPException(503, _NO_LAYOUT) from None
    headers = {"X-Content-Type-Options": "nosniff"}
    if status == 201:
        headers["Location"] = f"/api/v1/complaints/{json.loads(text)['id']}"
    return Response(text, status_code=status, media_type=media, headers=headers)


@router.get("/complaints/by-token/{token}")
def complaint_by_token(
    token: Annotated[str, Path(max_length=64)], engine: EngineDep, settings: SettingsDep
) -> Response:
    """What a resident sees with their tracking token (no personal data)."""
    return _json(get_case_by_token(engine, token, settings).as_dict())


@router.get("/complaints/{case_id}")
def complaint(case_id: CaseId, engine: EngineDep, settings: SettingsDep) -> Response:
    """One complaint for dispatchers (personal data masked)."""
    return _json(get_case(engine, case_id, settings).as_dict())


@router.get("/complaints/{case_id}/events")
def complaint_events(case_id: CaseId, engine: EngineDep) -> Response:
    """The events of one complaint, oldest first."""
    return _json(case_events(engine, case_id))


@router.get("/locate")
def locate(
    engine: EngineDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(description="longitude (x) in crs")],
    lat: Annotated[float, Query(description="latitude (y) in crs")],
    crs: Annotated[str, Query(max_length=32)] = "wgs84",
) -> Response:
    """Where a point lies: the same answer as `grid locate --json`."""
    try:
        where = locate_point(engine, lon, lat, crs, settings)
    except LookupError:
        raise HTTPException(503, _NO_LAYOUT) from None
    return _json(where.as_dict())


@router.get("/catalogue")
def catalogue(settings: SettingsDep) -> Response:
    """The event catalogue: classes and subclasses with tiers, time limits, radii."""
    return _json(load_catalogue(settings.data_dir / CATALOGUE_FILE).as_dict())
