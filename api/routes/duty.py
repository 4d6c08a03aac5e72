"""Routes: the stations' work (/api/v1): duty shifts, check-ins, who is on duty,
weekly duty compliance, patrols and frontage units.

Thin handlers: parse, call one function of cases.stations, shape the answer.
Every route needs a login (401 without one) and a role (403 otherwise);
places are then limited to the caller's scope (cases.access) by the function
called. Errors are DomainErrors mapped by api.errors.

Roles:
- plan and cancel shifts: squad_leader, dispatcher, admin;
- check in and out: officer (own shifts only), squad_leader, dispatcher, admin;
- see the rota, who is on duty, patrols, frontage units: every role but analyst;
- compliance: every role (analysts get the station and squad tables only);
- record patrols, register frontage units: officer (own patrols), squad_leader,
  dispatcher, admin.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api.auth import require_roles
from api.contract import REF, ApiErrors, component, json_request, ok, schema_of
from api.deps import EngineDep, SettingsDep
from api.schemas import JsonBody, json_body, parse_model
from cases.access import Principal
from cases.intake import MAX_ID
from cases.stations.compliance import ComplianceGroup, ComplianceRow, weekly_compliance
from cases.stations.duty import (
    CheckIn,
    CheckResult,
    DutyNow,
    Shift,
    ShiftPlan,
    cancel_shift,
    duty_now,
    list_shifts,
    plan_shifts,
    record_check,
)
from cases.stations.frontage import FrontageUnit, FrontageUnitIn, list_frontage, register_frontage
from cases.stations.patrols import PatrolIn, PatrolView, get_patrol, record_patrol
from cases.stations.weeks import parse_week

router = APIRouter(prefix="/api/v1", tags=["duty"])

_NO_LAYOUT = "no layout is loaded yet; the bureau must load one (grid demo / grid load)"
_DESCRIPTIONS = {
    401: "Unauthorised: log in first (bearer token or session cookie)",
    403: "Forbidden: this role may not do this, or the place is outside its scope",
    404: "Not found: no such shift, station, squad or patrol",
    409: "Conflict: the officer already has a shift then (named), or the shift is cancelled",
    413: "Request body too large",
    415: "Unsupported media type: send the body as application/json",
    422: "Unprocessable: invalid field(s), each named in detail[].field",
    503: "Unavailable: no layout is loaded yet",
}

STAFF = ("officer", "squad_leader", "deputy_leader", "chief", "dispatcher", "admin")
PLANNERS = ("squad_leader", "dispatcher", "admin")
FIELD_WORK = ("officer", "squad_leader", "dispatcher", "admin")
EVERYONE = (*STAFF, "analyst")

Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Planner = Annotated[Principal, Depends(require_roles(*PLANNERS))]
FieldWorker = Annotated[Principal, Depends(require_roles(*FIELD_WORK))]
Anyone = Annotated[Principal, Depends(require_roles(*EVERYONE))]
Body = Annotated[JsonBody, Depends(json_body)]
ShiftId = Annotated[int, Path(gt=0, le=MAX_ID, description="the shift's id")]
PatrolId = Annotated[int, Path(gt=0, le=MAX_ID, description="the patrol's id")]
Code = Annotated[str, Query(min_length=1, max_length=16, description="a station code")]
WeekQuery = Annotated[
    str, Query(min_length=1, max_length=16, description="ISO week YYYY-Www, e.g. 2019-W10")
]

SHIFTS = schema_of(dict[str, list[Shift]], "Shifts")
SHIFT = schema_of(Shift, "Shift")
CHECK = schema_of(CheckResult, "DutyCheck")
NOW = schema_of(DutyNow, "DutyNow")
COMPLIANCE = component(
    "DutyCompliance",
    {
        "type": "object",
        "required": ["week", "week_start", "week_end", "rule_hours", "stations", "squads"],
        "properties": {
            "week": {"type": "string", "description": "YYYY-Www"},
            "week_start": {"type": "string", "format": "date"},
            "week_end": {"type": "string", "format": "date"},
            "rule_hours": {"type": "number"},
            "stations": {"type": "array", "items": schema_of(ComplianceGroup, "DutyGroup")},
            "squads": {"type": "array", "items": {"$ref": REF + "DutyGroup"}},
            "rows": {
                "type": "array",
                "items": schema_of(ComplianceRow, "DutyComplianceRow"),
                "description": "one per officer and community; absent for analysts",
            },
            "shortfalls": {
                "type": "array",
                "items": {"$ref": REF + "DutyComplianceRow"},
                "description": "stationed officers short of the rule, worst first; "
                "absent for analysts",
            },
        },
    },
)
PATROL = schema_of(PatrolView, "Patrol")


SHIFT_PLAN_IN = json_request(ShiftPlan, "ShiftPlanIn")
CHECK_IN = json_request(CheckIn, "DutyCheckIn")
PATROL_IN = json_request(PatrolIn, "PatrolIn")
UNIT_IN = json_request(FrontageUnitIn, "FrontageUnitIn")
UNIT = schema_of(FrontageUnit, "FrontageUnit")
UNITS = schema_of(list[FrontageUnit], "FrontageUnits")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ApiErrors, "description": _DESCRIPTIONS[s]} for s in statuses}


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers={"X-Content-Type-Options": "nosniff"},
    )


# ------------------------------------------------------------------ shifts


@router.post(
    "/duty/shifts",
    status_code=201,
    openapi_extra=SHIFT_PLAN_IN,
    responses={**ok(SHIFTS, 201, "Planned"), **_errors(401, 403, 404, 409, 413, 415, 422)},
)
def plan(body: Body, engine: EngineDep, principal: Planner) -> Response:
    """Plan shifts (`{"shifts": [{officer_code, station_code, start, end, note}]}`),
    all or none; 409 names the shift an officer already has at that time."""
    shifts = plan_shifts(engine, parse_model(ShiftPlan, body.data).shifts, principal=principal)
    return _json({"shifts": [s.as_dict() for s in shifts]}, 201)


@router.get("/duty/shifts", responses={**ok(SHIFTS), **_errors(401, 403, 404, 422)})
def rota(engine: EngineDep, principal: Staff, station: Code, week: WeekQuery) -> Response:
    """A station's shifts in a week (the rota), cancelled ones marked."""
    shifts = list_shifts(engine, station, parse_week(week), principal=principal)
    return _json({"shifts": [s.as_dict() for s in shifts]})


@router.post(
    "/duty/shifts/{shift_id}/cancel",
    responses={**ok(SHIFT), **_errors(401, 403, 404, 409, 422)},
)
def cancel(shift_id: ShiftId, engine: EngineDep, principal: Planner) -> Response:
    """Cancel a shift that nobody checked in on (it is kept, marked cancelled)."""
    return _json(cancel_shift(engine, shift_id, principal=principal).as_dict())


def _check(
    kind: str, shift_id: int, body: JsonBody, engine: Any, settings: Any, principal: Principal
) -> Response:
    check = parse_model(CheckIn, body.data)
    result = record_check(engine, shift_id, kind, check, principal=principal, settings=settings)
    return _json(result.as_dict(), 201)


_CHECK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ok(CHECK, 201, "Recorded; `counts` false and `flag` outside, with the distance, when far"),
    **_errors(401, 403, 404, 409, 413, 415, 422),
}


@router.post(
    "/duty/shifts/{shift_id}/checkin",
    status_code=201,
    responses=_CHECK_RESPONSES,
    openapi_extra=CHECK_IN,
)
def checkin(
    shift_id: ShiftId, body: Body, engine: EngineDep, settings: SettingsDep, principal: FieldWorker
) -> Response:
    """Check in on a shift with `lon`, `lat`, `crs` (and `at`). Far from the
    station and outside its community: kept, flagged, not counted. Without a
    location: kept, and answered 422."""
    return _check("in", shift_id, body, engine, settings, principal)


@router.post(
    "/duty/shifts/{shift_id}/checkout",
    status_code=201,
    responses=_CHECK_RESPONSES,
    openapi_extra=CHECK_IN,
)
def checkout(
    shift_id: ShiftId, body: Body, engine: EngineDep, settings: SettingsDep, principal: FieldWorker
) -> Response:
    """Check out of a shift with `lon`, `lat`, `crs` (and `at`)."""
    return _check("out", shift_id, body, engine, settings, principal)


@router.get("/duty/now", responses={**ok(NOW), **_errors(401, 403, 404, 422)})
def now(
    engine: EngineDep,
    settings: SettingsDep,
    principal: Staff,
    station: Code,
    at: Annotated[datetime | None, Query(description="ISO 8601 with offset; default now")] = None,
) -> Response:
    """Who is on duty at a station: present, planned, then the rest, fewest open cases first."""
    return _json(duty_now(engine, station, at, principal=principal, settings=settings).as_dict())


@router.get("/duty/compliance", responses={**ok(COMPLIANCE), **_errors(401, 403, 404, 422)})
def compliance(
    engine: EngineDep,
    settings: SettingsDep,
    principal: Anyone,
    week: WeekQuery,
    station: Annotated[str | None, Query(max_length=16)] = None,
    squad: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Hours on duty per officer and community in a week against the rule, with
    the station and squad tables and the shortfalls, within the caller's scope."""
    report = weekly_compliance(
        engine,
        week,
        station_code=station,
        squad_code=squad,
        principal=principal,
        settings=settings,
    )
    return _json(report.as_dict())


# ------------------------------------------------------------------ patrols


@router.post(
    "/patrols",
    status_code=201,
    openapi_extra=PATROL_IN,
    responses={**ok(PATROL, 201, "Recorded"), **_errors(401, 403, 404, 413, 415, 422, 503)},
)
def patrol(
    body: Body, engine: EngineDep, settings: SettingsDep, principal: FieldWorker
) -> Response:
    """Record a patrol: a track (`geojson` object or `gpx` text, in `crs`),
    findings (each filed as a case, source patrol) and frontage checks."""
    patrol_in = parse_model(PatrolIn, body.data)
    try:
        view = record_patrol(engine, patrol_in, principal=principal, settings=settings)
    except LookupError:
        raise HTTPException(503, _NO_LAYOUT) from None
    return _json(view.as_dict(), 201)


@router.get("/patrols/{patrol_id}", responses={**ok(PATROL), **_errors(401, 403, 404, 422)})
def patrol_view(patrol_id: PatrolId, engine: EngineDep, principal: Staff) -> Response:
    """One patrol: coverage, grids passed through, findings with their cases, checks."""
    return _json(get_patrol(engine, patrol_id, principal=principal).as_dict())


@router.post(
    "/frontage",
    status_code=201,
    openapi_extra=UNIT_IN,
    responses={**ok(UNIT, 201, "Registered"), **_errors(401, 403, 413, 415, 422, 503)},
)
def frontage_register(
    body: Body, engine: EngineDep, settings: SettingsDep, principal: FieldWorker
) -> Response:
    """Register (or update) a frontage unit (门前三包) at its point."""
    unit = parse_model(FrontageUnitIn, body.data)
    try:
        view = register_frontage(engine, unit, principal=principal, settings=settings)
    except LookupError:
        raise HTTPException(503, _NO_LAYOUT) from None
    return _json(view.as_dict(), 201)


@router.get("/frontage", responses={**ok(UNITS), **_errors(401, 403, 422)})
def frontage_list(
    engine: EngineDep,
    principal: Staff,
    community: Annotated[str | None, Query(max_length=12)] = None,
) -> Response:
    """Frontage units (of a community), with the latest result of each item."""
    units = list_frontage(engine, community, principal=principal)
    return _json([u.as_dict() for u in units])
