"""Routes: the workflow's indicators (考核指标), `GET /api/v1/indicators`.

`?level=district|subdistrict|community|grid|station|squad|officer|department
&code=&from=YYYY-MM-DD&to=YYYY-MM-DD`: every indicator of one place over the
period, by English key and Chinese name (cases.indicators). `code` may be
left out for the district (the bureau's own); `from` defaults to the first
day of `to`'s month, `to` to today (Asia/Shanghai).

Roles: every account; the place must be in its reach (cases.indicators.places):
analysts, leaders, the command centre and admins every place; a squad
leader their squad and its communities, stations, grids and officers; an
officer their station (its community, grids) and themselves; a department's
staff their department. 401 without a token, 403 outside the reach, 422 for
a bad level, code or date (the field named).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.auth import CurrentPrincipal
from api.contract import ApiErrors, api_errors, component, ok
from api.deps import EngineDep, SettingsDep
from cases.indicators import INDICATORS, LEVELS, indicators

router = APIRouter(prefix="/api/v1", tags=["indicators"])

_INDICATOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "name", "unit", "value"],
    "properties": {
        "key": {"enum": [i.key for i in INDICATORS], "description": "stable English key"},
        "name": {"type": "string", "description": "中文名称, e.g. 结案率"},
        "unit": {"enum": sorted({i.unit for i in INDICATORS})},
        "value": {
            "type": ["number", "null"],
            "description": "a count, an average, or a rate in percent (two decimals); "
            "null when there is nothing to divide by",
        },
        "numerator": {"type": "integer", "description": "rates: the count above the line"},
        "denominator": {"type": "integer", "description": "rates: the count below it"},
    },
}
INDICATOR_SET = component(
    "Indicators",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["level", "code", "name", "from", "to", "timezone", "as_of", "indicators"],
        "properties": {
            "level": {"enum": [lv.key for lv in LEVELS]},
            "code": {"type": "string"},
            "name": {"type": "string"},
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "timezone": {"type": "string"},
            "as_of": {
                "type": "string",
                "format": "date-time",
                "description": "the figures' moment: the period's end, or now when the "
                "period includes today",
            },
            "indicators": {"type": "array", "items": _INDICATOR},
        },
    },
)
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ok(INDICATOR_SET),
    401: {"model": ApiErrors, "description": "Unauthorised: no bearer token, or a bad one"},
    403: {"model": ApiErrors, "description": "Forbidden: the place is outside the caller's reach"},
    **api_errors(422, 503),
}


@router.get("/indicators", responses=_RESPONSES)
def get_indicators(
    principal: CurrentPrincipal,
    engine: EngineDep,
    settings: SettingsDep,
    level: Annotated[
        str,
        Query(
            max_length=16,
            description="district | subdistrict | community | grid | station | squad | "
            "officer | department",
            json_schema_extra={"enum": [lv.key for lv in LEVELS]},
        ),
    ],
    code: Annotated[
        str | None,
        Query(max_length=32, description="the place's code (optional for the district)"),
    ] = None,
    date_from: Annotated[
        str | None,
        Query(alias="from", max_length=10, description="first day, YYYY-MM-DD (Asia/Shanghai)"),
    ] = None,
    date_to: Annotated[
        str | None,
        Query(alias="to", max_length=10, description="last day, YYYY-MM-DD; default today"),
    ] = None,
) -> Response:
    """The indicators of one place over [from, to]: counts, rates (结案率 …), averages."""
    found = indicators(
        engine, level, code, date_from, date_to, principal=principal, settings=settings
    )
    return Response(
        json.dumps(found.as_dict(), ensure_ascii=False),
        media_type="application/json",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )
