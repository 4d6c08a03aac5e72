"""The queries behind the maps and the command-centre screen (城管110).

- `common`: filters checked as cases.trends checks them, the caller's scope
  (cases.access), Chinese labels of statuses and tiers;
- `analysis`: grids, heat points or cells (aggregated in SQL above a
  threshold), counts and rates per grid or community, hot spots and emerging
  hot spots limited to the caller's grids;
- `operations`: stations, squads' areas, officers on duty now, open and
  overdue cases, and the command centre's figures.

Everything is set-based SQL with bound parameters; the spatial reads of the
layout are gis.areas'. No HTTP here, and no personal data: maps and the
command centre show codes, counts and case text only.
"""

from cases.mapdata.analysis import (
    MAX_DAY_FRAMES,
    area_counts,
    current_grids,
    emerging,
    heat_over_time,
    heat_points,
    hotspots,
)
from cases.mapdata.common import (
    OPEN_STATUSES,
    OVERDUE_STATUSES,
    STATUS_LABELS,
    TIER_LABELS,
    CaseFilters,
    InvalidFilter,
    check_filters,
)
from cases.mapdata.operations import (
    DUTY_LABELS,
    OVERDUE_LIST_MAX,
    Operations,
    dashboard,
    on_duty,
    operations,
)

__all__ = [
    "DUTY_LABELS",
    "MAX_DAY_FRAMES",
    "OPEN_STATUSES",
    "OVERDUE_LIST_MAX",
    "OVERDUE_STATUSES",
    "STATUS_LABELS",
    "TIER_LABELS",
    "CaseFilters",
    "InvalidFilter",
    "Operations",
    "area_counts",
    "check_filters",
    "current_grids",
    "dashboard",
    "emerging",
    "heat_over_time",
    "heat_points",
    "hotspots",
    "on_duty",
    "operations",
]
