"""Routes: the maps' data (/api/v1): grids, hot spots, emerging hot spots, and
the command centre's figures.

Thin handlers: parse the filters, call one function of cases.mapdata, shape
the answer (GeoJSON through api.geojson). Every route needs a login: a bearer
token from POST /api/v1/auth/token or the `cg_session` cookie (401 without).

Roles (one table, read by these routes and by the pages):
- the maps and their data: every role but a department's staff (党建+N);
  officers and squad leaders see their own places only (cases.access),
  analysts never see personal data (and no map or figure here carries any);
- the command centre's figures: dispatchers, deputy leaders, the chief,
  squad leaders (their squad's places) and admins; 403 for others.

Filters (the same on the pages): `class` or `subclass` (catalogue codes),
`from`/`to` (calendar days, Asia/Shanghai, both included, at most three
years), `subdistrict` (9-digit code), `status`, `tier`. A bad or too wide
one is 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api import compress
from api.auth import require_roles
from api.contract import ApiErrors
from api.deps import EngineDep, SettingsDep
from api.geojson import feature_collection
from api.map_schemas import DASHBOARD, EMERGING, GRIDS, HOTSPOTS
from cases import mapdata
from cases.access import Principal
from cases.models import CASE_STATUSES, TIERS
from cases.trends import DEFAULT_MONTHS, MAX_MONTHS, MIN_MONTHS

router = APIRouter(prefix="/api/v1", tags=["maps"])

MAP_ROLES: tuple[str, ...] = (
    "officer",
    "squad_leader",
    "deputy_leader",
    "chief",
    "dispatcher",
    "analyst",
    "admin",
)
"""Who sees the maps and their data (each within its own places). Not a
department's staff (党建+N): their scope is the cases shared with them, not places."""
COMMAND_ROLES: tuple[str, ...] = ("dispatcher", "deputy_leader", "chief", "squad_leader", "admin")
"""Who sees the command centre's screen (城管110)."""

MapViewer = Annotated[Principal, Depends(require_roles(*MAP_ROLES))]
CommandCentre = Annotated[Principal, Depends(require_roles(*COMMAND_ROLES))]

NO_LAYOUT = "no layout is loaded yet; the bureau must load one (grid demo / grid load)"

_DESCRIPTIONS = {
    401: "Unauthorised: log in first (bearer token or the cg_session cookie)",
    403: "Forbidden: this role may not see the command centre's screen",
    422: "Unprocessable: a filter is malformed, unknown or too wide (named in detail[].field)",
    503: "Unavailable: the database is down or no layout is loaded yet",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these routes: each status with the ApiErrors schema."""
    out: dict[int | str, dict[str, Any]] = {}
    for s in statuses:
        out[s] = {"model": ApiErrors, "description": _DESCRIPTIONS[s]}
        if s == 503:
            out[s]["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before trying again",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
            }
    return out


def geojson_ok(schema: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answered as GeoJSON (application/geo+json) with `schema`."""
    return {
        200: {"description": description, "content": {"application/geo+json": {"schema": schema}}}
    }


# ------------------------------------------------------------------ filters


_EMPTY_OK = "an empty value means no filter (as an HTML form sends it)"


def map_filters(
    date_from: Annotated[
        str | None,
        Query(
            alias="from",
            pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$",
            description="first day (Asia/Shanghai), YYYY-MM-DD; default: a year before `to`; "
            + _EMPTY_OK,
        ),
    ] = None,
    date_to: Annotated[
        str | None,
        Query(
            alias="to",
            pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$",
            description="last day, included (Asia/Shanghai), YYYY-MM-DD; default today; "
            + _EMPTY_OK,
        ),
    ] = None,
    class_code: Annotated[
        str | None,
        Query(
            alias="class",
            pattern="^([0-9]{2})?$",
            description="a class code of the catalogue (GET /api/v1/catalogue), e.g. 01; "
            + _EMPTY_OK,
        ),
    ] = None,
    subclass: Annotated[
        str | None,
        Query(
            pattern="^([0-9]{4})?$",
            description="a subclass code of the catalogue, e.g. 0101 (within `class` if both); "
            + _EMPTY_OK,
        ),
    ] = None,
    subdistrict: Annotated[
        str | None,
        Query(
            pattern="^([0-9]{9})?$",
            description="a subdistrict's 9-digit code (current layout); " + _EMPTY_OK,
        ),
    ] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=32,
            description="only cases in this state (default: all the counts of cases.trends); "
            + _EMPTY_OK,
            json_schema_extra={"enum": ["", *CASE_STATUSES]},
        ),
    ] = None,
    tier: Annotated[
        str | None,
        Query(
            max_length=32,
            description="only cases of this tier; " + _EMPTY_OK,
            json_schema_extra={"enum": ["", *TIERS]},
        ),
    ] = None,
) -> mapdata.CaseFilters:
    """The map filters of a query string (checked further by cases.mapdata: a real
    calendar day, a code of the catalogue or the layout, a window of at most three
    years; InvalidFilter names the field)."""
    return mapdata.CaseFilters(
        date_from=date_from,
        date_to=date_to,
        class_code=class_code,
        subclass=subclass,
        subdistrict=subdistrict,
        status=status,
        tier=tier,
    )


Filters = Annotated[mapdata.CaseFilters, Depends(map_filters)]
Months = Annotated[
    int,
    Query(
        ge=MIN_MONTHS,
        le=MAX_MONTHS,
        description="whole months ending by `to` (the month still running is left out)",
    ),
]


_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}


def _geo(request: Request, body: bytes) -> Response:
    return compress.response(request, body, "application/geo+json", headers=_HEADERS)


# ------------------------------------------------------------------ schemas

# ------------------------------------------------------------------- routes


@router.get(
    "/grids",
    responses={**geojson_ok(GRIDS, "The current grids (the caller's places)"), **errors(401, 503)},
)
def grids(request: Request, principal: MapViewer, engine: EngineDep) -> Response:
    """GeoJSON of the current layout's grids: grid_code, name, community, subdistrict."""
    try:
        frame = mapdata.current_grids(engine, principal)
    except LookupError:
        raise HTTPException(503, NO_LAYOUT) from None
    props = [
        "grid_code",
        "name",
        "community_code",
        "community_name",
        "subdistrict_code",
        "subdistrict_name",
        "area_m2",
    ]
    return _geo(request, feature_collection(frame, props))


@router.get(
    "/hotspots",
    responses={
        **geojson_ok(HOTSPOTS, "Gi* per grid with its significance class (the caller's grids)"),
        **errors(401, 422, 503),
    },
)
def hotspots(
    request: Request,
    principal: MapViewer,
    engine: EngineDep,
    settings: SettingsDep,
    filters: Filters,
) -> Response:
    """Getis-Ord Gi* hot and cold spots of the filtered cases, per grid.

    Classes hot_99 … cold_99 by the FDR-adjusted p-value; the collection's
    `properties` name the FDR method (Benjamini–Hochberg on analytic p-values)
    and the filters as applied.
    """
    try:
        table = mapdata.hotspots(engine, filters, principal, settings=settings)
    except LookupError:
        raise HTTPException(503, NO_LAYOUT) from None
    props = ["grid_code", "count", "gi_z", "p_value", "hotspot_class", "label"]
    return _geo(request, feature_collection(table, props, table.attrs))


@router.get(
    "/hotspots/emerging",
    responses={
        **geojson_ok(EMERGING, "The emerging hot-spot pattern per grid (the caller's grids)"),
        **errors(401, 422, 503),
    },
)
def emerging_hotspots(
    request: Request,
    principal: MapViewer,
    engine: EngineDep,
    settings: SettingsDep,
    filters: Filters,
    months: Months = DEFAULT_MONTHS,
) -> Response:
    """Emerging hot spots by month: space-time Gi*, Mann-Kendall trend, and
    ArcGIS's patterns (new, consecutive, intensifying, persistent, diminishing,
    sporadic, oscillating, historical; hot and cold)."""
    try:
        table = mapdata.emerging(engine, months, filters, principal, settings=settings)
    except LookupError:
        raise HTTPException(503, NO_LAYOUT) from None
    props = ["grid_code", "pattern", "label", "trend_z", "trend_p", "hot_bins", "cold_bins"]
    return _geo(request, feature_collection(table, props, table.attrs))


@router.get(
    "/dashboard",
    responses={
        200: {
            "description": "The command centre's figures (the caller's places)",
            "content": {"application/json": {"schema": DASHBOARD}},
        },
        **errors(401, 403, 503),
    },
)
def dashboard(
    request: Request, principal: CommandCentre, engine: EngineDep, settings: SettingsDep
) -> Response:
    """Today's intake, open cases by tier, the overdue list and the officers on
    duty now (codes only), for the command centre's screen."""
    data = mapdata.dashboard(engine, principal, settings=settings)
    return compress.response(request, orjson.dumps(data), "application/json", headers=_HEADERS)
