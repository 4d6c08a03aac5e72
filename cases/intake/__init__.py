"""Intake: the one place where complaints enter the workflow.

The complaint API, Open311 and the bulk loader (cases.bulk) all come through
the rules of `cases.intake.rules`: the same input gives the same case,
whatever the door. Modules by concern:

- `model`: the complaint as sent (ComplaintIn) and its limits;
- `coordinates`: checking and converting a point, locating it
  (`check_coordinates`, `locate_point`), against the loaded district;
- `rules`: status and note, tier, the due clock (it starts at dispatch),
  the officer (on duty at dispatch: chosen from the duty shifts, in SQL, by
  cases.stations.onduty), the events; over columns, for one complaint or a
  million (with `events`: the events' rows and data; `columns`: the column
  types and the per-combination helper);
- `duplicates`: merging a complaint into the open case it repeats;
- `submit`: the single path, one transaction (`submit_complaint`);
- `views`: what dispatchers and residents see (`get_case`,
  `get_case_by_token`, `case_events`).
"""

from cases.intake.coordinates import NEAR_HOME_KM, check_coordinates, locate_point
from cases.intake.model import EARLIEST_REPORT, FUTURE_SLACK, MAX_ID, ComplaintIn
from cases.intake.submit import submit_complaint
from cases.intake.views import (
    CaseView,
    PublicCaseView,
    case_events,
    get_case,
    get_case_by_token,
    open311_status,
)

__all__ = [
    "EARLIEST_REPORT",
    "FUTURE_SLACK",
    "MAX_ID",
    "NEAR_HOME_KM",
    "CaseView",
    "ComplaintIn",
    "PublicCaseView",
    "case_events",
    "check_coordinates",
    "get_case",
    "get_case_by_token",
    "locate_point",
    "open311_status",
    "submit_complaint",
]
