"""The report's parts that come from other rooms: duty compliance of the month's
weeks (cases.stations.compliance) and the month's hot spots (cases.trends,
gis.hotspots) drawn on an offline map (maps.hotspots, rendered with every
asset inline, as maps.export.save_standalone does, so the page works with no
network and no app).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from cases.access import Principal
from cases.errors import NotFound
from cases.ledgers.month import Month
from cases.stations.compliance import ComplianceGroup, ComplianceRow, weekly_compliance
from cases.stations.weeks import Week
from cases.trends import CaseFilters, hotspots
from gis.hotspots import grid_weights
from gis.settings import Settings


@dataclass(frozen=True)
class WeekCompliance:
    """One week's duty compliance for the report's place."""

    week: str
    first_day: str
    last_day: str
    groups: list[ComplianceGroup]
    shortfalls: list[ComplianceRow]


@dataclass(frozen=True)
class Compliance:
    """The month's weeks, with the rule (hours a week) and whether officers are named."""

    rule_hours: float
    weeks: list[WeekCompliance]
    names: bool


def month_weeks(month: Month) -> list[Week]:
    """The ISO weeks whose Thursday falls in the month (ISO's rule for a week's month)."""
    first = month.first_day
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday < month.next_first_day:
        thursday = monday + timedelta(days=3)
        if thursday.month == month.number and thursday.year == month.year:
            year, number, _ = monday.isocalendar()
            weeks.append(Week(year, number))
        monday += timedelta(days=7)
    return weeks


def compliance_of(
    engine: Engine,
    month: Month,
    kind: str,
    code: str,
    *,
    principal: Principal | None,
    settings: Settings,
    now: datetime,
) -> Compliance:
    """Duty compliance of each week of the month: the squads' table for the
    district, the stations' for a squad, the station's for a station, and the
    officers short of the rule (not for roles that read no names)."""
    weeks = []
    names = True
    for week in month_weeks(month):
        report = weekly_compliance(
            engine,
            week,
            station_code=code if kind == "station" else None,
            squad_code=code if kind == "squad" else None,
            principal=principal,
            settings=settings,
            now=now,
        )
        names = report.names
        groups = report.squads if kind == "district" else report.stations
        weeks.append(
            WeekCompliance(
                week=report.week,
                first_day=report.week_start,
                last_day=report.week_end,
                groups=list(groups),
                shortfalls=list(report.shortfalls),
            )
        )
    return Compliance(rule_hours=settings.duty_rule_hours, weeks=weeks, names=names)


REFIT = """<script>
(function () {
  function refit() {
    var name = Object.keys(window).filter(function (n) {
      return n.indexOf("map_") === 0 && window[n] instanceof L.Map;
    })[0];
    if (!name) { return; }
    var map = window[name], bounds = null;
    map.eachLayer(function (layer) {
      if (layer.getBounds && layer.getBounds().isValid()) {
        bounds = bounds ? bounds.extend(layer.getBounds()) : L.latLngBounds(
          layer.getBounds().getSouthWest(), layer.getBounds().getNorthEast());
      }
    });
    map.invalidateSize();
    if (bounds) { map.fitBounds(bounds); }
  }
  window.addEventListener("load", refit);
  window.addEventListener("resize", refit);
})();
</script>"""
"""Fit the map to its grids once its frame has its size: inside the report's iframe
the map can start before the frame is laid out, and would then show the whole
province at the least zoom (a frame that gets its size fires `resize`)."""


@dataclass(frozen=True)
class HotSpots:
    """The month's hot spots among the place's grids, and the map (an HTML page)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    map_html: str | None = None
    note: str = ""
    method: str = ""


def hotspots_of(
    engine: Engine,
    first: date,
    last: date,
    communities: list[str],
    place_name: str,
    *,
    settings: Settings,
    limit: int,
) -> HotSpots:
    """Gi* over the whole district for the month; the place's hot grids (the `limit`
    hottest listed, all on the map) and their map."""
    from maps.hotspots import hotspots as hotspot_map
    from maps.offline import render

    try:
        table = hotspots(engine, CaseFilters(date_from=first, date_to=last), settings=settings)
    except NotFound as exc:
        return HotSpots(note=f"无法进行热点分析：{exc.message}")
    if int(table["count"].sum()) == 0:
        return HotSpots(note="本月辖区无案件，未作热点分析。")
    grids = grid_weights(engine).grids
    community = dict(zip(grids["code"], grids["community_code"], strict=True))
    table = table.assign(community_code=table["grid_code"].map(community))
    area = table[table["community_code"].isin(communities)].copy()
    method = str(table.attrs.get("fdr_method_zh", table.attrs.get("fdr_method", "")))
    hot = area[area["hotspot_class"].astype(str).str.startswith("hot")].sort_values(
        ["gi_z", "grid_code"], ascending=[False, True]
    )
    rows = [
        {
            "grid_code": str(r.grid_code),
            "count": int(r.count),
            "gi_z": round(float(r.gi_z), 2),
            "p_value": round(float(r.p_value), 4),
            "label": str(r.label),
        }
        for r in hot.head(limit).itertuples()
    ]
    if area.empty:
        return HotSpots(note="本辖区在当前网格布局中无网格。", method=method)
    title = f"{place_name}投诉热点（{first:%Y年%m月}）"
    m = hotspot_map(
        area[["grid_code", "count", "gi_z", "p_value", "hotspot_class", "label", "geometry"]],
        fdr_method=method or "Benjamini–Hochberg",
        title=title,
        subtitle="Getis-Ord Gi*，全区网格参与计算",
        code_column="grid_code",
        base="none",
    )
    page = render(m, mode="inline")
    cut = page.rfind("</html>")
    page = page[:cut] + REFIT + page[cut:] if cut >= 0 else page + REFIT
    return HotSpots(rows=rows, total=len(hot), map_html=page, method=method)
