"""What every map query shares: checked filters, the caller's scope, labels.

Filters are those of `cases.trends` (class or subclass, from/to in
Asia/Shanghai days, subdistrict, status, tier), checked by the same code, so
a bad one raises the same `InvalidFilter` naming the field. The caller's scope
is `cases.access`'s rule, turned into a WHERE condition on a community-code
column by `cases.access.scope_condition`; `principal=None` is a trusted local
tool (the CLI, a planner's notebook) and sees the whole district.

No query here selects a reporter's name or phone, nor an officer's name: maps
and the command-centre screen show codes, counts and case text only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.access import Principal, scope_condition
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.lifecycle.states import CLOCK_STATES, OPEN_STATES, STATES
from cases.lifecycle.states import TIER_LABELS as LIFECYCLE_TIER_LABELS
from cases.trends import (
    LOCAL_TZ,
    CaseFilters,
    InvalidFilter,
    _check,
    _Checked,
    _date_window,
    _where,
)
from gis.district import home_district, metres_per_degree
from gis.hotspots import GridWeights, NoLayout, grid_weights
from gis.settings import Settings

__all__ = [
    "CASES",
    "LOCAL_TZ",
    "OPEN_STATUSES",
    "OVERDUE_STATUSES",
    "STATUS_LABELS",
    "TIER_LABELS",
    "CaseFilters",
    "Checked",
    "InvalidFilter",
    "case_conditions",
    "cell_columns",
    "cell_degrees",
    "check_filters",
    "layout_grids",
    "local_now",
    "overdue_condition",
    "places",
    "scope",
    "subclass_names",
]

STATUS_LABELS: dict[str, str] = {s.code: s.label for s in STATES}
"""Chinese names of the case states (cases.lifecycle.states)."""

TIER_LABELS: dict[str, str] = dict(LIFECYCLE_TIER_LABELS)
"""Chinese names of the tiers: settled on the spot (小事), by the squad leader
(中事), by the deputy leader or the chief (大事)."""

OPEN_STATUSES: tuple[str, ...] = OPEN_STATES
"""Work still to do (the lifecycle's open states)."""

OVERDUE_STATUSES: tuple[str, ...] = CLOCK_STATES
"""States whose handling clock runs: a case in one of them past its due time is
overdue (cases.lifecycle.states.CLOCK_STATES, as the escalation sweeper reads it)."""


def overdue_condition(at: datetime) -> sa.ColumnElement[bool]:
    """Overdue at `at`: the clock runs and the due time has passed."""
    return sa.and_(sa.column("status").in_(list(OVERDUE_STATUSES)), sa.column("due_at") < at)


CASES = sa.table("case_file")
"""The case table, for statements built with SQLAlchemy Core."""


@dataclass(frozen=True)
class Checked:
    """Filters checked against the catalogue and the current layout.

    `dated` is False when no date was asked for and the query is not about a
    window (the live map's open cases): then `since`/`until` are not applied.
    """

    inner: _Checked
    dated: bool
    filters: CaseFilters

    @property
    def first_day(self) -> date:
        """First day of the window (Asia/Shanghai)."""
        return self.inner.first_day

    @property
    def last_day(self) -> date:
        """Last day of the window (Asia/Shanghai), included."""
        return self.inner.last_day

    def meta(self) -> dict[str, Any]:
        """The filters as applied, JSON-ready (for pages, legends and answers)."""
        return {
            "from": self.first_day.isoformat() if self.dated else None,
            "to": self.last_day.isoformat() if self.dated else None,
            "timezone": str(LOCAL_TZ),
            "class": self.filters.class_code or None,
            "subclass": self.filters.subclass or None,
            "subdistrict": self.inner.subdistrict,
            "status": self.inner.status,
            "tier": self.inner.tier,
        }


def layout_grids(engine: Engine) -> GridWeights:
    """The current layout's grids and weights (cached per generation).

    Raises gis.hotspots.NoLayout (a LookupError) when no layout is loaded yet.
    """
    return grid_weights(engine)


def check_filters(
    engine: Engine, filters: CaseFilters, settings: Settings, *, dated: bool = True
) -> Checked:
    """Check `filters` (InvalidFilter names the field; NoLayout without a layout).

    With `dated=False` the window applies only when `from` or `to` was given.
    """
    windowed = dated or filters.date_from not in (None, "") or filters.date_to not in (None, "")
    first, last = _date_window(filters)
    inner = _check(filters, layout_grids(engine), settings, first_day=first, last_day=last)
    return Checked(inner, windowed, filters)


def scope(principal: Principal | None, column: str = "community_code") -> sa.ColumnElement[bool]:
    """The caller's places as a condition on `column` (everything for None)."""
    if principal is None:
        return sa.true()
    return scope_condition(principal, sa.column(column))


def places(principal: Principal | None) -> frozenset[str] | None:
    """The community codes a caller may see, or None for the whole district."""
    if principal is None or principal.scope.everywhere:
        return None
    return principal.scope.communities


def case_conditions(
    checked: Checked, principal: Principal | None, *, statuses: tuple[str, ...] | None = None
) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions on case_file for the checked filters and the caller's scope.

    Located cases only (a grid code). Without `statuses` the cases are those
    cases.trends counts (its own WHERE clause, so a heat map and a hot-spot map
    of the same filters count the same cases); with `statuses`, those states
    when no status was asked for (the live map's open cases).
    """
    c = checked.inner
    out: list[sa.ColumnElement[bool]]
    if checked.dated and statuses is None:
        where, params = _where(c)
        out = [sa.and_(sa.text(where).bindparams(**params))]
    else:
        out = [sa.column("grid_code").is_not(None)]
        if checked.dated:
            out.append(sa.column("reported_at") >= c.since)
            out.append(sa.column("reported_at") < c.until)
        if c.subclasses is not None:
            out.append(sa.column("subclass_code").in_(list(c.subclasses)))
        if c.status is not None:
            out.append(sa.column("status") == c.status)
        elif statuses is not None:
            out.append(sa.column("status").in_(list(statuses)))
        if c.tier is not None:
            out.append(sa.column("tier") == c.tier)
    if c.subdistrict is not None:
        out.append(sa.column("subdistrict_code") == c.subdistrict)
    # A map draws points: a case placed on a grid by hand, without a point, is counted
    # by the figures (cases.trends) but has no place on a point map.
    out.append(sa.column("geom").is_not(None))
    out.append(scope(principal))
    return out


def subclass_names(settings: Settings) -> dict[str, str]:
    """Subclass code -> its Chinese name (the catalogue's)."""
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    return {s.code: s.name for s in catalogue.subclasses}


def cell_degrees(engine: Engine, cell_m: float, settings: Settings) -> tuple[float, float]:
    """Degrees of longitude and latitude spanning `cell_m` metres at the district."""
    with engine.connect() as conn:
        home = home_district(conn, settings)
    if home is None:
        raise NoLayout("no layout is loaded yet; load one with `grid load` or `grid demo`")
    per_lon, per_lat = metres_per_degree(home.lat)
    return cell_m / per_lon, cell_m / per_lat


def cell_columns(dx: float, dy: float) -> list[sa.ColumnElement[Any]]:
    """Cell-centre lon/lat of each case's point (square cells of dx by dy degrees)."""
    ix = sa.func.floor(sa.func.ST_X(sa.column("geom")) / dx)
    iy = sa.func.floor(sa.func.ST_Y(sa.column("geom")) / dy)
    return [((ix + 0.5) * dx).label("lon"), ((iy + 0.5) * dy).label("lat")]


def local_now(now: datetime | None = None) -> datetime:
    """`now` (default: the clock) in Asia/Shanghai; a naive `now` is refused."""
    if now is None:
        return datetime.now(LOCAL_TZ)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now needs a time-zone offset")
    return now.astimezone(LOCAL_TZ)
