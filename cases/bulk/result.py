"""What `grid assign` reports, its errors, and the limits it checks.

Constants shared by the steps (reading, validation, storing) live here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Progress = Callable[[str, int, int], None]
"""progress(step, done, total): step is read|validate|copy|locate|insert."""

REQUIRED: Final = ("lon", "lat", "subclass", "reported_at")
OPTIONAL: Final = ("description", "address")
HISTORY: Final = ("status", "dispatched_at", "closed_at", "rating")
"""Optional columns of a case's later course (cases.bulk.history; rule 6 of intake)."""
IDEMPOTENCY_SCOPE: Final = "grid-assign"
MAX_DESCRIPTION: Final = 10_000
MAX_ADDRESS: Final = 1_000
MAX_SUBCLASS: Final = 16
EARLIEST: Final = np.datetime64("2000-01-01T00:00:00", "us")
FUTURE_SLACK_US: Final = 5 * 60 * 1_000_000  # clocks of other systems run a little fast
SUFFIXES: Final = {
    ".csv": "csv",
    ".txt": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".pq": "parquet",
}


FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


class AssignError(Exception):
    """The file as a whole cannot be assigned; the message says why and what to do.

    `usage` is True when the command line was wrong (no such file, unknown
    format) rather than the file's content.
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass
class AssignResult:
    """What an assignment did: counts per outcome, the rejects, timings in seconds."""

    file: str
    sha256: str
    crs: str
    rows: int = 0
    located: int = 0
    gap_snapped: int = 0
    referred_out: int = 0
    unassigned: int = 0
    no_location: int = 0
    invalid: int = 0
    referred_to: dict[str, int] = field(default_factory=dict)
    first_rejects: list[tuple[int, str]] = field(default_factory=list)
    rejects_path: str | None = None
    already_assigned: bool = False
    assigned_at: str = ""
    line_numbers: str = "exact"
    partition: str | None = None  # the load's own partition of case_file, if it has one
    history: bool = False  # the file has history columns (status, dispatched_at, ...)
    by_status: dict[str, int] = field(default_factory=dict)  # cases written, per status
    history_not_applied: int = 0  # rows whose status the placement overrode (rule 6)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def needs_location(self) -> int:
        """Cases kept for a dispatcher to place (inside but in no grid, or no coordinates)."""
        return self.unassigned + self.no_location

    @property
    def cases(self) -> int:
        """Cases written (every row that is not invalid)."""
        return self.located + self.gap_snapped + self.referred_out + self.needs_location

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (what `grid assign --json` prints)."""
        d = asdict(self)
        d["first_rejects"] = [{"line": n, "reason": r} for n, r in self.first_rejects]
        d["needs_location"] = self.needs_location
        d["cases"] = self.cases
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AssignResult:
        """Rebuild from `as_dict` output (the stored record of a first assignment)."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["first_rejects"] = [
            (int(r["line"]), str(r["reason"])) for r in d.get("first_rejects", [])
        ]
        return cls(**kwargs)
