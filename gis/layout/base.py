"""The vocabulary of a layout load: levels and their tables, findings, reports, layers.

Shared by reading (:mod:`gis.layout.read`), checking (:mod:`gis.layout.checks`)
and storing (:mod:`gis.layout.store`) a layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from gis.models import PARENT

TABLE = {
    "district": "district",
    "subdistrict": "subdistrict",
    "community": "community",
    "grid": "grid_cell",
}
PARENT_COLUMN = {
    "subdistrict": "district_code",
    "community": "subdistrict_code",
    "grid": "community_code",
}
CHILD = {parent: child for child, parent in PARENT.items()}


@dataclass(frozen=True)
class Finding:
    """One problem found in a layer, with where it is."""

    check: str
    severity: str  # "error" stops the load; "warning" is reported only
    message: str
    code: str | None = None
    lon: float | None = None
    lat: float | None = None
    area_m2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class CheckReport:
    """All findings for one level of a load."""

    level: str
    features: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """Findings that stop the load."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings that are only reported."""
        return [f for f in self.findings if f.severity == "warning"]

    def add(self, finding: Finding) -> None:
        """Record a finding."""
        self.findings.append(finding)


class LayoutError(Exception):
    """A load that must not be written; `reports` says why, with locations."""

    def __init__(self, message: str, reports: list[CheckReport] | None = None) -> None:
        super().__init__(message)
        self.reports = reports or []


@dataclass
class Layer:
    """A checked layer in WGS84: columns code, name, parent_code, geometry."""

    level: str
    frame: gpd.GeoDataFrame
    source_hash: str
    report: CheckReport
