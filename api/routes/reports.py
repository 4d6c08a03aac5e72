"""Routes: the monthly meeting report, `GET /api/v1/reports/monthly` (HTML).

`?month=YYYY-MM[&station=CODE | &squad=CODE]`: the report of a finished
month (cases.reports) for a station, a squad or (neither) the district, as
one print-friendly zh-CN page that works offline (the map's assets inline).
The .xlsx comes from `grid report monthly`.

Roles: leaders, the command centre, analysts (no personal data in it) and
admins any report; a squad leader their squad's and its stations'; an
officer their station's; a department's staff none. 401 without a token,
403 outside those, 422 for a bad or unfinished month, an unknown station or
squad, or both given (the field named).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.auth import require_roles
from api.contract import ApiErrors, api_errors
from api.deps import EngineDep, SettingsDep
from cases.access import Principal
from cases.reports import build_monthly_report, render_html

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

READERS = ("officer", "squad_leader", "deputy_leader", "chief", "dispatcher", "analyst", "admin")
Reader = Annotated[Principal, Depends(require_roles(*READERS))]

_HTML = {"type": "string", "contentMediaType": "text/html"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as one HTML page (zh-CN, A4, offline)",
        "content": {"text/html": {"schema": _HTML}},
    },
    401: {"model": ApiErrors, "description": "Unauthorised: no bearer token, or a bad one"},
    403: {
        "model": ApiErrors,
        "description": "Forbidden: this role may not read reports, or not this place's",
    },
    **api_errors(422, 503),
}


@router.get("/monthly", responses=_RESPONSES, response_class=Response)
def monthly(
    principal: Reader,
    engine: EngineDep,
    settings: SettingsDep,
    month: Annotated[
        str,
        Query(
            min_length=1,
            max_length=16,
            description="a finished month, YYYY-MM (Asia/Shanghai)",
            json_schema_extra={"pattern": "^[0-9]{4}-[0-9]{2}$"},
        ),
    ],
    station: Annotated[str | None, Query(max_length=32, description="a station's code")] = None,
    squad: Annotated[str | None, Query(max_length=32, description="a squad's code")] = None,
) -> Response:
    """The monthly meeting report of a station, a squad or the district, as HTML."""
    report = build_monthly_report(
        engine, month, station=station, squad=squad, principal=principal, settings=settings
    )
    return Response(
        render_html(report),
        media_type="text/html; charset=utf-8",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "base-uri 'none'; form-action 'none'; object-src 'none'",
        },
    )
