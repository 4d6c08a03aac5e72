"""The map pages: each one the data of cases.mapdata drawn by a builder of maps/.

One function per page, all with the same shape (engine, query, principal,
settings, base layer) and the same filters, so the app's pages, the CLI's
export (`grid maps export`) and the notebooks draw the same maps from the same
queries. Large data were aggregated by the database already (cases.mapdata);
the builders then send raw points only below their thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, NamedTuple

import folium
from branca.element import Element
from sqlalchemy.engine import Engine

from api.pages import render
from cases import mapdata
from cases.access import Principal
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.trends import DEFAULT_MONTHS
from gis import areas
from gis.settings import Settings
from maps.base import BaseName
from maps.choropleth import choropleth
from maps.heat import heatmap, heatmap_over_time
from maps.hotspots import emerging, hotspots
from maps.offline import render as render_map
from maps.operations import operations

__all__ = ["MAPS", "MapPage", "PageQuery", "build_map", "describe", "page_html"]


@dataclass(frozen=True)
class PageQuery:
    """What a map page was asked for: the case filters and the page's own options."""

    filters: mapdata.CaseFilters = field(default_factory=mapdata.CaseFilters)
    by: Literal["week", "day"] = "week"
    level: Literal["grid", "community"] = "grid"
    months: int = DEFAULT_MONTHS


class MapRequest(NamedTuple):
    """What a page's builder is given: the database, the query, who asks, the
    settings, the base layer, and the subtitle describing the filters."""

    engine: Engine
    q: PageQuery
    principal: Principal | None
    settings: Settings
    base: BaseName | None
    subtitle: str


Builder = Callable[[MapRequest], folium.Map]


@dataclass(frozen=True)
class MapPage:
    """One map page: its path name, Chinese title, one line for the start page."""

    name: str
    title: str
    blurb: str
    build: Builder
    options: tuple[str, ...] = ()


def _heat(r: MapRequest) -> folium.Map:
    points = mapdata.heat_points(r.engine, r.q.filters, r.principal, settings=r.settings)
    return heatmap(points, subtitle=r.subtitle, base=r.base)


def _timeline(r: MapRequest) -> folium.Map:
    cells = mapdata.heat_over_time(
        r.engine, r.q.filters, r.principal, by=r.q.by, settings=r.settings
    )
    freq: Literal["W", "D"] = "W" if r.q.by == "week" else "D"
    return heatmap_over_time(cells, freq=freq, subtitle=r.subtitle, base=r.base)


def _choropleth(r: MapRequest) -> folium.Map:
    counts = mapdata.area_counts(
        r.engine, r.q.filters, r.principal, level=r.q.level, settings=r.settings
    )
    level = "网格" if r.q.level == "grid" else "社区"
    return choropleth(
        counts,
        {"count": "投诉数", "per_km2": "每平方公里投诉数"},
        level=level,
        code_column="code",
        name_column="name",
        subtitle=r.subtitle,
        base=r.base,
    )


def _hotspots(r: MapRequest) -> folium.Map:
    table = mapdata.hotspots(r.engine, r.q.filters, r.principal, settings=r.settings)
    permutations = table.attrs.get("permutations")
    method = str(table.attrs["fdr_method_zh"])
    if permutations:
        method += f"；置换检验 {permutations} 次"
    return hotspots(
        table, fdr_method=method, code_column="grid_code", subtitle=r.subtitle, base=r.base
    )


def _emerging(r: MapRequest) -> folium.Map:
    # Whole months ending by `to`: a `from` shared with the other maps does not apply.
    filters = replace(r.q.filters, date_from=None)
    table = mapdata.emerging(r.engine, r.q.months, filters, r.principal, settings=r.settings)
    periods = table.attrs.get("periods") or []
    span = f"{periods[0][:7]} 至 {periods[-1][:7]}，" if periods else ""
    note = (
        f"{span}共 {len(periods)} 个月；逐月 Gi*（时空邻域）、"
        "Benjamini–Hochberg 校正与 Mann-Kendall 趋势检验"
    )
    return emerging(table, code_column="grid_code", note=note, subtitle=r.subtitle, base=r.base)


def _operations(r: MapRequest) -> folium.Map:
    ops = mapdata.operations(r.engine, r.q.filters, r.principal, settings=r.settings)
    at = str(ops.meta.get("at", ""))[:16].replace("T", " ")
    line = f"{at} 未结 {ops.open_total:,} 件，其中超期 {ops.overdue_total:,} 件"
    return operations(
        stations=ops.stations,
        squads=ops.squads,
        officers=ops.officers,
        cases=ops.cases,
        subtitle=f"{line}；{r.subtitle}" if r.subtitle else line,
        base=r.base,
    )


MAPS: Final[dict[str, MapPage]] = {
    p.name: p
    for p in (
        MapPage("heatmap", "投诉热力图", "投诉在哪里集中（数据量大时按方格汇总）", _heat),
        MapPage("timeline", "投诉热力变化", "按周或按日播放投诉热力的变化", _timeline, ("by",)),
        MapPage(
            "choropleth",
            "投诉分布",
            "各网格、各社区的投诉数与每平方公里投诉数",
            _choropleth,
            ("level",),
        ),
        MapPage(
            "hotspots", "热点与冷点", "Getis-Ord Gi* 显著的热点与冷点（错误发现率校正）", _hotspots
        ),
        MapPage(
            "emerging", "新兴热点", "逐月时空热点：新增、加强、持续、减弱……", _emerging, ("months",)
        ),
        MapPage(
            "operations", "运行态势", "服务站、中队辖区、在岗人员、未结与超期案件", _operations
        ),
    )
}
"""Every map page, in the start page's order."""

_TIME_FILTERED: Final = frozenset({"heatmap", "timeline", "choropleth", "hotspots"})


def describe(engine: Engine, name: str, q: PageQuery, settings: Settings) -> str:
    """The filters of a page in Chinese, for its subtitle (dates, class, place...)."""
    f = q.filters
    parts: list[str] = []
    if name in _TIME_FILTERED or (name == "operations" and (f.date_from or f.date_to)):
        checked = mapdata.check_filters(engine, f, settings)
        parts.append(f"{checked.first_day} 至 {checked.last_day}")
    elif name == "emerging":
        parts.append(f"最近 {q.months} 个整月" + (f"（截至 {f.date_to}）" if f.date_to else ""))
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    if f.subclass:
        sub = next((s for s in catalogue.subclasses if s.code == f.subclass), None)
        parts.append(sub.name if sub else str(f.subclass))
    elif f.class_code:
        cls = next((c for c in catalogue.classes if c.code == f.class_code), None)
        parts.append(cls.name if cls else str(f.class_code))
    if f.subdistrict:
        with engine.connect() as conn:
            names = areas.subdistricts(conn)
        parts.append(names.get(str(f.subdistrict), str(f.subdistrict)))
    if f.status:
        parts.append(mapdata.STATUS_LABELS.get(str(f.status), str(f.status)))
    if f.tier:
        parts.append(mapdata.TIER_LABELS.get(str(f.tier), str(f.tier)) + "案件")
    return " · ".join(parts)


def build_map(
    name: str,
    engine: Engine,
    q: PageQuery,
    principal: Principal | None,
    settings: Settings,
    base: BaseName | None = None,
) -> folium.Map:
    """The folium map of page `name` for this query and caller.

    Raises InvalidFilter (a field named) for a bad filter and gis.hotspots.NoLayout
    (a LookupError) when no layout is loaded; KeyError for an unknown page.
    """
    page = MAPS[name]
    subtitle = describe(engine, name, q, settings)
    return page.build(MapRequest(engine, q, principal, settings, base, subtitle))


def page_html(
    name: str,
    engine: Engine,
    q: PageQuery,
    principal: Principal,
    settings: Settings,
    *,
    values: dict[str, object],
    embed: bool = False,
    dashboard: bool = False,
) -> str:
    """The whole HTML page of map `name`, its assets served from /static.

    Unless `embed` (a map inside another page), a bar on top links the other
    pages and holds the filter form, filled with `values` (the query as sent,
    escaped by the template). Raises maps.offline.ExternalReferenceError if
    anything would be fetched from outside (never expected).
    """
    m = build_map(name, engine, q, principal, settings)
    if not embed:
        catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
        with engine.connect() as conn:
            subdistricts = areas.subdistricts(conn)
        bar = render(
            "overlay.html",
            maps=list(MAPS.values()),
            here=name,
            options=MAPS[name].options,
            catalogue=catalogue,
            subdistricts=subdistricts,
            statuses=mapdata.STATUS_LABELS,
            tiers=mapdata.TIER_LABELS,
            values=values,
            principal=principal,
            dashboard=dashboard,
        )
        root: Any = m.get_root()
        root.html.add_child(Element(bar), name="cg_bar")
    return render_map(m)
