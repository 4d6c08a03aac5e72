"""The analysts' map data: grids, heat points or cells, counts per area, hot spots.

Large data stay in the database: a heat map gets the raw points of the
filtered cases only while there are at most `CG_MAP_RAW_POINTS_MAX` of them;
above that one grouped statement counts them in square cells of
`CG_MAP_CELL_M` metres (degrees sized at the home district's latitude), so a
year of a million complaints reaches the page as a few thousand cells. The
heat map over time is always counted per cell and week (or day) in SQL.

Hot spots and emerging hot spots are cases.trends' (Gi* on the whole district
or the chosen subdistrict); a caller with a smaller scope gets the rows of its
own grids only.
"""

from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases import trends
from cases.access import Principal
from cases.mapdata.common import (
    CASES,
    LOCAL_TZ,
    CaseFilters,
    InvalidFilter,
    case_conditions,
    cell_columns,
    cell_degrees,
    check_filters,
    layout_grids,
    places,
)
from gis import areas
from gis.settings import Settings, get_settings

__all__ = [
    "MAX_DAY_FRAMES",
    "area_counts",
    "current_grids",
    "emerging",
    "heat_over_time",
    "heat_points",
    "hotspots",
]

MAX_DAY_FRAMES = 366
"""The longest window a heat map by day may cover (one frame per day)."""


def current_grids(engine: Engine, principal: Principal | None = None) -> gpd.GeoDataFrame:
    """The current grids the caller may see (gis.areas.grids' columns)."""
    with engine.connect() as conn:
        return areas.grids(conn, places(principal))


def heat_points(
    engine: Engine,
    filters: CaseFilters | None = None,
    principal: Principal | None = None,
    *,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Points (lon, lat) of the filtered cases, or cells (lon, lat, count) when many.

    `attrs`: the filters as applied, `total` (cases), `cell_m` (None for raw points).
    """
    settings = settings or get_settings()
    checked = check_filters(engine, filters or CaseFilters(), settings)
    where = case_conditions(checked, principal)
    with engine.connect() as conn:
        total = int(
            conn.execute(sa.select(sa.func.count()).select_from(CASES).where(*where)).scalar_one()
        )
    cell_m: float | None = None
    if total <= settings.map_raw_points_max:
        stmt = sa.select(
            sa.func.ST_X(sa.column("geom")).label("lon"),
            sa.func.ST_Y(sa.column("geom")).label("lat"),
        )
        stmt = stmt.select_from(CASES).where(*where)
    else:
        cell_m = settings.map_cell_m
        dx, dy = cell_degrees(engine, cell_m, settings)
        lon, lat = cell_columns(dx, dy)
        stmt = (
            sa.select(lon, lat, sa.func.count().label("count"))
            .select_from(CASES)
            .where(*where)
            .group_by(sa.text("1"), sa.text("2"))
        )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    columns = ["lon", "lat"] if cell_m is None else ["lon", "lat", "count"]
    frame = pd.DataFrame(rows, columns=columns).astype(dict.fromkeys(columns, "float64"))
    frame.attrs.update({**checked.meta(), "total": total, "cell_m": cell_m})
    return frame


def heat_over_time(
    engine: Engine,
    filters: CaseFilters | None = None,
    principal: Principal | None = None,
    *,
    by: Literal["week", "day"] = "week",
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Cases counted per cell and week (Monday) or day, Asia/Shanghai.

    Columns lon, lat (cell centre), reported_at (the period's first day, local,
    naive), count. A window of more than MAX_DAY_FRAMES days by day is refused.
    """
    if by not in ("week", "day"):
        raise InvalidFilter("by must be week or day", field="by")
    settings = settings or get_settings()
    checked = check_filters(engine, filters or CaseFilters(), settings)
    days = (checked.last_day - checked.first_day).days + 1
    if by == "day" and days > MAX_DAY_FRAMES:
        raise InvalidFilter(
            f"a heat map by day covers at most {MAX_DAY_FRAMES} days; this window has {days} "
            "(choose by=week, or a shorter window)",
            field="from",
        )
    cell_m = settings.map_cell_m * 2
    dx, dy = cell_degrees(engine, cell_m, settings)
    lon, lat = cell_columns(dx, dy)
    local = sa.func.timezone(str(LOCAL_TZ), sa.column("reported_at"))
    period = sa.func.date_trunc(by, local).label("reported_at")
    stmt = (
        sa.select(lon, lat, period, sa.func.count().label("count"))
        .select_from(CASES)
        .where(*case_conditions(checked, principal))
        .group_by(sa.text("1"), sa.text("2"), sa.text("3"))
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["lon", "lat", "reported_at", "count"])
    frame = frame.astype({"lon": "float64", "lat": "float64", "count": "float64"})
    frame["reported_at"] = pd.to_datetime(frame["reported_at"])
    frame.attrs.update({**checked.meta(), "total": int(frame["count"].sum()), "cell_m": cell_m})
    return frame


def area_counts(
    engine: Engine,
    filters: CaseFilters | None = None,
    principal: Principal | None = None,
    *,
    level: Literal["grid", "community"] = "grid",
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """Cases per grid or per community (every area, zeros included) and per km².

    Columns code, name, count, per_km2, area_km2 and the polygon (the grid's
    also grid_code and its community's name). Counted by cases.trends.count_by_grid,
    so the same cases count; a community is the sum of its grids.
    """
    if level not in ("grid", "community"):
        raise InvalidFilter("level must be grid or community", field="level")
    settings = settings or get_settings()
    filters = filters or CaseFilters()
    check_filters(engine, filters, settings)  # no layout: NoLayout (a LookupError)
    counts = trends.count_by_grid(engine, filters, settings=settings)
    keep = places(principal)
    with engine.connect() as conn:
        grids = areas.grids(conn, keep)
        shapes = grids if level == "grid" else areas.communities(conn, keep)
    per_grid = grids[["grid_code", "community_code"]].merge(counts, on="grid_code", how="inner")
    if level == "grid":
        out = shapes.rename(columns={"grid_code": "code"}).merge(
            per_grid[["grid_code", "count"]].rename(columns={"grid_code": "code"}), on="code"
        )
    else:
        summed = per_grid.groupby("community_code", as_index=False)["count"].sum()
        out = shapes.merge(summed.rename(columns={"community_code": "code"}), on="code")
    out["count"] = out["count"].astype(np.int64)
    out["area_km2"] = out["area_m2"].astype(float) / 1e6
    out["per_km2"] = np.where(out["area_km2"] > 0, out["count"] / out["area_km2"], np.nan)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    out.attrs.update(counts.attrs)
    out.attrs["level"] = level
    return out


def _in_scope(table: gpd.GeoDataFrame, engine: Engine, principal: Principal | None) -> Any:
    keep = places(principal)
    if keep is None:
        return table
    grids = layout_grids(engine).grids  # cached per layout generation
    mine = set(grids.loc[grids["community_code"].isin(keep), "code"])
    out = table[table["grid_code"].isin(mine)].reset_index(drop=True)
    out.attrs.update(table.attrs)
    return out


def hotspots(
    engine: Engine,
    filters: CaseFilters | None = None,
    principal: Principal | None = None,
    *,
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """Gi* hot and cold spots per grid (cases.trends.hotspots), the caller's grids.

    Computed over the whole district (or the chosen subdistrict), so a grid's
    class means the same for everyone; `attrs` names the FDR method.
    """
    settings = settings or get_settings()
    filters = filters or CaseFilters()
    check_filters(engine, filters, settings)  # no layout: NoLayout (a LookupError)
    table = trends.hotspots(engine, filters, settings=settings)
    return _in_scope(table, engine, principal)


def emerging(
    engine: Engine,
    months: int = trends.DEFAULT_MONTHS,
    filters: CaseFilters | None = None,
    principal: Principal | None = None,
    *,
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """Emerging hot-spot pattern per grid (cases.trends.emerging_hotspots), the
    caller's grids."""
    settings = settings or get_settings()
    filters = filters or CaseFilters()
    layout_grids(engine)  # no layout: NoLayout (a LookupError)
    table = trends.emerging_hotspots(engine, months, filters, settings=settings)
    return _in_scope(table, engine, principal)
