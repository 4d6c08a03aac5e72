"""Bulk assignment: millions of complaints from a file, located and filed set-based.

`assign_file(engine, path, crs)` takes a CSV, GeoJSON or GeoParquet file of
complaints (historic data, hotline exports) and, in one database transaction,
turns every good row into a case by the same rules as a complaint filed one
at a time (cases.intake.rules): status and note, tier, due time, officer and
the same events in the same order. No Python loop over rows, no statement per
row. Modules by concern:

- `read`: the file once into memory, its SHA-256 (the file's identity),
  parsed with pyarrow (CSV, Parquet) or pyogrio (GeoJSON) into columns,
  every row with its line number;
- `validate`: checks over whole columns; every bad row keeps its line number
  and every reason, and goes to the rejects CSV; coordinates converted once;
  `parse` reads numbers and times out of text; `history` checks the optional
  columns of a case's later course;
- `store`: the points staged and located (gis.locate.locate_table), the
  rules applied, cases and events COPY-ed straight into their tables (a
  large load into partitions of its own, indexed after the load, foreign
  keys checked once per load when they are attached);
- `copy`: COPY in and out (CSV written and read by pyarrow) and the bulk
  connection;
- `assign`: the orchestration and idempotency; `result`: what it reports.

Outcomes per row: `located` (in a grid), `gap_snapped` (in a sliver gap, given
to the nearest grid within the tolerance), `referred_out` (outside the
district: kept with status referred_out, 转办, the neighbouring district named
when known), `unassigned` (inside the district but far from every grid) and
`no_location` (no coordinates but an address): both kept with status
needs_location for a dispatcher; `invalid`: written to the rejects CSV with
its line number, the reasons and the raw values, never stopping the good rows.

Line numbers: for CSV the physical line where the record starts (the header is
line 1; quoted values spanning lines and blank lines are counted exactly); for
GeoJSON the feature's number and for Parquet the row's number, from 1. A case's
`external_ref` is `<file name>:<line>`.

The due clock of a row starts at its `reported_at`: a row is the record of a
complaint the bureau received and dispatched then (cases.intake.rules, rule
3); its officer is the one on duty at that moment. Timestamps without a zone
offset are local times of the calendar's zone.

History: optional columns `status`, `dispatched_at`, `closed_at` and `rating`
give a case's later course (cases.bulk.history checks them; rule 6 of
cases.intake.rules decides): the clock starts at `dispatched_at`, a closed
case is stored closed with its `closed_at`, and its events are dated by the
row's own times. A file without them is filed exactly as before.

Duplicates: a bulk row is never merged (neither with an open case nor with
another row of the file). A file is a record of complaints each taken as its
own case at the source; the live rule takes advisory locks per complaint and
decides one complaint at a time, in arrival order, which a set-based pass
cannot reproduce where near reports chain (A near B near C). The rest of the
case is decided exactly as for a live complaint.

The same file (same SHA-256, whatever its name) assigned twice creates nothing
the second time (`already_assigned`).
"""

from cases.bulk.assign import assign_file
from cases.bulk.read import file_sha256
from cases.bulk.result import (
    HISTORY,
    IDEMPOTENCY_SCOPE,
    OPTIONAL,
    REQUIRED,
    SUFFIXES,
    AssignError,
    AssignResult,
    Progress,
)

__all__ = [
    "HISTORY",
    "IDEMPOTENCY_SCOPE",
    "OPTIONAL",
    "REQUIRED",
    "SUFFIXES",
    "AssignError",
    "AssignResult",
    "Progress",
    "assign_file",
    "file_sha256",
]
