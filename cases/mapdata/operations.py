"""The live picture: stations, squads' areas, officers on duty now, open and
overdue cases, and the command centre's figures (城管110).

Who is on duty now, for the whole district in one statement, by the rule of
cases.stations.onduty (the one intake dispatches by): an officer with a live
shift covering the moment is `present` once a counting check-in is their
last check, `planned` before any check, and gone once checked out. A station
where no shift covers the moment has nobody on duty (a holiday has no
shifts). Officers appear by code only.

Open cases are those in the lifecycle's open states (common.OPEN_STATUSES);
one is overdue when its handling clock runs and its due time has passed
(common.overdue_condition). A layer of at most `CG_MAP_MARKERS_MAX` cases comes
with each case's fields (for a popup); a larger one is counted per square cell
in SQL, so a year of open cases never travels row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.access import Principal, scope_condition
from cases.lifecycle.states import TIERS
from cases.mapdata.common import (
    CASES,
    LOCAL_TZ,
    OPEN_STATUSES,
    OVERDUE_STATUSES,
    STATUS_LABELS,
    TIER_LABELS,
    CaseFilters,
    case_conditions,
    cell_columns,
    cell_degrees,
    check_filters,
    local_now,
    overdue_condition,
    places,
    subclass_names,
)
from cases.stations.onduty import shift_states_sql
from gis import areas
from gis.settings import Settings, get_settings

__all__ = ["DUTY_LABELS", "OVERDUE_LIST_MAX", "Operations", "dashboard", "on_duty", "operations"]

DUTY_LABELS: dict[str, str] = {"present": "已签到", "planned": "排班在岗"}
"""Chinese names of the on-duty states."""

OVERDUE_LIST_MAX = 50
"""The command centre's overdue list shows the longest overdue first, this many."""

_ON_DUTY = sa.text(f"""
SELECT n.code, n.station_code, st.name AS station_name, st.community_code, n.state
FROM ({shift_states_sql("CAST(:at AS timestamptz)")}) n
JOIN station st ON st.code = n.station_code
WHERE n.state IN ('present', 'planned')
""").columns(
    sa.column("code"),
    sa.column("station_code"),
    sa.column("station_name"),
    sa.column("community_code"),
    sa.column("state"),
)


def on_duty(
    engine: Engine, principal: Principal | None = None, *, now: datetime | None = None
) -> pd.DataFrame:
    """Officers on duty now in the caller's places: code, station_code,
    station_name, state (present | planned), by station and code."""
    at = local_now(now)
    q = _ON_DUTY.bindparams(at=at).subquery("q")
    stmt = (
        sa.select(q.c.code, q.c.station_code, q.c.station_name, q.c.state)
        .where(scope_condition(principal, q.c.community_code) if principal else sa.true())
        .order_by(q.c.station_code, q.c.code)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=["code", "station_code", "station_name", "state"])


@dataclass
class Operations:
    """What the operations map draws (all WGS84), and the totals behind it."""

    stations: gpd.GeoDataFrame
    squads: gpd.GeoDataFrame
    officers: pd.DataFrame
    cases: pd.DataFrame
    open_total: int
    overdue_total: int
    meta: dict[str, Any] = field(default_factory=dict)


_DETAIL = (
    "id",
    "subclass_code",
    "status",
    "tier",
    "reported_at",
    "due_at",
    "address",
    "description",
)


def _case_rows(
    engine: Engine,
    where: list[sa.ColumnElement[bool]],
    overdue: bool,
    count: int,
    at: datetime,
    settings: Settings,
) -> pd.DataFrame:
    """One layer's cases: each with its fields when few, else counted per cell."""
    late = overdue_condition(at)
    where = [*where, late if overdue else sa.not_(sa.func.coalesce(late, False))]
    if count == 0:
        return pd.DataFrame(columns=["lon", "lat", "overdue"])
    if count <= settings.map_markers_max:
        stmt = sa.select(
            sa.func.ST_X(sa.column("geom")).label("lon"),
            sa.func.ST_Y(sa.column("geom")).label("lat"),
            *(sa.column(c) for c in _DETAIL),
        )
        with engine.connect() as conn:
            rows = conn.execute(stmt.select_from(CASES).where(*where)).all()
        frame = pd.DataFrame(rows, columns=["lon", "lat", *_DETAIL])
        names = subclass_names(settings)
        frame["case_no"] = frame.pop("id").astype(str)
        frame["subclass"] = frame.pop("subclass_code").map(lambda c: f"{names.get(c, c)}（{c}）")
        frame["status"] = frame["status"].map(STATUS_LABELS).fillna(frame["status"])
        frame["tier"] = frame["tier"].map(TIER_LABELS).fillna(frame["tier"])
        for column in ("reported_at", "due_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(LOCAL_TZ)
    else:
        cell_m = settings.map_cell_m * 2
        lon, lat = cell_columns(*cell_degrees(engine, cell_m, settings))
        stmt = (
            sa.select(lon, lat, sa.func.count().label("count"))
            .select_from(CASES)
            .where(*where)
            .group_by(sa.text("1"), sa.text("2"))
        )
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        frame = pd.DataFrame(rows, columns=["lon", "lat", "count"])
        frame["count"] = frame["count"].astype(np.int64)
    frame["lon"] = frame["lon"].astype(float)
    frame["lat"] = frame["lat"].astype(float)
    frame["overdue"] = overdue
    return frame


def operations(
    engine: Engine,
    filters: CaseFilters | None = None,
    principal: Principal | None = None,
    *,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Operations:
    """Stations, squads' areas, officers on duty now and the open and overdue
    cases matching `filters`, in the caller's places.

    Without `from`/`to` every open case counts, however old. `cases` holds
    both layers (column `overdue`), each either one row per case or counted
    cells (column `count`).
    """
    settings = settings or get_settings()
    at = local_now(now)
    checked = check_filters(engine, filters or CaseFilters(), settings, dated=False)
    where = case_conditions(checked, principal, statuses=OPEN_STATUSES)
    where.append(sa.column("geom").is_not(None))
    late = overdue_condition(at)
    totals = (
        sa.select(sa.func.count(), sa.func.count().filter(late)).select_from(CASES).where(*where)
    )
    keep = places(principal)
    with engine.connect() as conn:
        total, overdue = conn.execute(totals).one()
        stations = areas.stations(conn, keep)
        squads = areas.squad_areas(conn, keep)
    layers = [
        _case_rows(engine, where, False, int(total) - int(overdue), at, settings),
        _case_rows(engine, where, True, int(overdue), at, settings),
    ]
    cases = (
        pd.concat([f for f in layers if len(f)], ignore_index=True)
        if any(len(f) for f in layers)
        else layers[0]
    )
    duty = on_duty(engine, principal, now=at)
    officers = pd.DataFrame(
        {
            "name": duty["code"] + "（" + duty["state"].map(DUTY_LABELS) + "）",
            "station_code": duty["station_code"],
        }
    )
    meta = {**checked.meta(), "at": at.isoformat(timespec="seconds")}
    return Operations(stations, squads, officers, cases, int(total), int(overdue), meta)


# ------------------------------------------------------------ command centre

_TODAY = sa.text("""
SELECT tier, status, community_code, count(*) AS n FROM case_file
WHERE reported_at >= :since AND reported_at < :until
GROUP BY tier, status, community_code
""").columns(sa.column("tier"), sa.column("status"), sa.column("community_code"), sa.column("n"))

_OPEN = sa.text("""
SELECT tier, community_code, count(*) AS n,
       count(*) FILTER (WHERE status = ANY(:clock) AND due_at < :at) AS late
FROM case_file WHERE status = ANY(:open)
GROUP BY tier, community_code
""").columns(sa.column("tier"), sa.column("community_code"), sa.column("n"), sa.column("late"))

_OVERDUE = sa.text("""
SELECT f.id, f.subclass_code, f.tier, f.status, f.community_code, c.name AS community_name,
       f.station_code, f.officer_code, f.reported_at, f.due_at, f.address, f.description
FROM case_file f
LEFT JOIN community c ON c.code = f.community_code
     AND c.generation_id = (SELECT id FROM layout_generation WHERE is_current)
WHERE f.status = ANY(:clock) AND f.due_at < :at
""").columns(
    *(
        sa.column(c)
        for c in (
            "id",
            "subclass_code",
            "tier",
            "status",
            "community_code",
            "community_name",
            "station_code",
            "officer_code",
            "reported_at",
            "due_at",
            "address",
            "description",
        )
    )
)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def _scoped(q: sa.Subquery, principal: Principal | None) -> sa.ColumnElement[bool]:
    return scope_condition(principal, q.c.community_code) if principal else sa.true()


def dashboard(
    engine: Engine,
    principal: Principal | None = None,
    *,
    now: datetime | None = None,
    overdue_max: int = OVERDUE_LIST_MAX,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The command centre's figures, JSON-ready, in the caller's places:

    today's intake (cases reported today, Asia/Shanghai) by tier and status,
    open cases by tier (and how many of them are overdue), the overdue list
    (longest overdue first, at most `overdue_max`, with the total) and the
    officers on duty now by station. Labels are Chinese; no personal data.
    """
    settings = settings or get_settings()
    at = local_now(now)
    since = at.replace(hour=0, minute=0, second=0, microsecond=0)
    until = since + timedelta(days=1)
    today = _TODAY.bindparams(since=since, until=until).subquery("t")
    clock = list(OVERDUE_STATUSES)
    opened = _OPEN.bindparams(at=at, open=list(OPEN_STATUSES), clock=clock).subquery("o")
    late = _OVERDUE.bindparams(at=at, clock=clock).subquery("l")
    with engine.connect() as conn:
        intake = conn.execute(
            sa.select(today.c.tier, today.c.status, sa.func.sum(today.c.n))
            .where(_scoped(today, principal))
            .group_by(today.c.tier, today.c.status)
        ).all()
        open_rows = conn.execute(
            sa.select(opened.c.tier, sa.func.sum(opened.c.n), sa.func.sum(opened.c.late))
            .where(_scoped(opened, principal))
            .group_by(opened.c.tier)
        ).all()
        overdue_rows = conn.execute(
            sa.select(late)
            .where(_scoped(late, principal))
            .order_by(late.c.due_at, late.c.id)
            .limit(overdue_max)
        ).all()
    names = subclass_names(settings)
    by_tier: dict[str, int] = dict.fromkeys(TIERS, 0)
    by_status: dict[str, int] = {}
    for tier, status, n in intake:
        by_tier[tier] = by_tier.get(tier, 0) + int(n)
        by_status[status] = by_status.get(status, 0) + int(n)
    open_by = {tier: (int(n), int(k)) for tier, n, k in open_rows}
    duty = on_duty(engine, principal, now=at)
    stations: list[dict[str, Any]] = []
    for (code, name), group in duty.groupby(["station_code", "station_name"], sort=True):
        officers = [
            {"code": c, "state": s, "state_label": DUTY_LABELS[s]}
            for c, s in zip(group["code"], group["state"], strict=True)
        ]
        stations.append({"station_code": code, "station_name": name, "officers": officers})
    overdue_total = sum(k for _, k in open_by.values())
    return {
        "generated_at": at.isoformat(timespec="seconds"),
        "timezone": str(LOCAL_TZ),
        "scope": None if places(principal) is None else sorted(places(principal) or ()),
        "today": {
            "date": since.date().isoformat(),
            "total": sum(by_tier.values()),
            "by_tier": [
                {"tier": t, "label": TIER_LABELS.get(t, t), "count": n} for t, n in by_tier.items()
            ],
            "by_status": [
                {"status": s, "label": STATUS_LABELS.get(s, s), "count": n}
                for s, n in sorted(by_status.items())
            ],
        },
        "open": {
            "total": sum(n for n, _ in open_by.values()),
            "overdue": overdue_total,
            "by_tier": [
                {
                    "tier": t,
                    "label": TIER_LABELS[t],
                    "count": open_by.get(t, (0, 0))[0],
                    "overdue": open_by.get(t, (0, 0))[1],
                }
                for t in TIERS
            ],
        },
        "overdue": {
            "total": overdue_total,
            "shown": len(overdue_rows),
            "cases": [
                {
                    "id": r.id,
                    "subclass": r.subclass_code,
                    "subclass_name": names.get(r.subclass_code, r.subclass_code),
                    "tier": r.tier,
                    "tier_label": TIER_LABELS.get(r.tier, r.tier),
                    "status": r.status,
                    "community_code": r.community_code,
                    "community_name": r.community_name,
                    "station_code": r.station_code,
                    "officer_code": r.officer_code,
                    "reported_at": _iso(r.reported_at),
                    "due_at": _iso(r.due_at),
                    "overdue_hours": round((at - r.due_at).total_seconds() / 3600, 1),
                    "address": r.address or "",
                    "description": r.description or "",
                }
                for r in overdue_rows
            ],
        },
        "on_duty": {"total": len(duty), "stations": stations},
    }
