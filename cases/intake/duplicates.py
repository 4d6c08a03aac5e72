"""Duplicates: a new complaint of the same subclass near an open case is merged into it.

The rule (the subclass's `duplicate_radius_m` and `duplicate_window_hours`):
an open case (filed and not yet closed: cases.lifecycle.states.ACTIVE_STATES),
itself not merged, of the same subclass, within the radius (on
the spheroid) and reported within the window either side; the nearest wins,
then the lowest id. The new complaint becomes a `duplicate`, its token follows the
master, and the master counts one more report (`report_added` event).

Only complaints filed one at a time are checked (API, Open311). A bulk file
is a record of complaints each taken as its own case at the source; a
million of them cannot each take the cell locks below, and set-based
merging within a file would decide differently from one-at-a-time merging
whenever a chain of near reports forms. See cases.bulk for what it does.

Two intakes of near duplicates at the same moment must not both become
masters: before searching, an intake takes transaction-scoped advisory locks
on the lattice cells its search could touch (cells of twice the radius in
degrees, sized for the district's most poleward latitude from the layout, so
any two points within the radius share a cell). Keys are taken in ascending
order, one by one: no two intakes can deadlock.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cases.catalogue import Subclass
from cases.lifecycle.states import ACTIVE_STATES
from gis.district import HomeDistrict, metres_per_degree
from gis.prepared import execute_prepared


def lock_keys(subclass: str, x: float, y: float, radius_m: float, home: HomeDistrict) -> list[int]:
    """Advisory-lock keys of the cells a duplicate search around (x, y) could touch."""
    reach = home.degrees_covering(radius_m)
    size = 2 * reach
    keys = set()
    for ix in range(math.floor((x - reach) / size), math.floor((x + reach) / size) + 1):
        for iy in range(math.floor((y - reach) / size), math.floor((y + reach) / size) + 1):
            digest = hashlib.sha256(f"dup\0{subclass}\0{ix}\0{iy}".encode()).digest()
            keys.add(int.from_bytes(digest[:8], "big", signed=True))
    return sorted(keys)


LOCK_CELLS = sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")

_ACTIVE = "(" + ", ".join(f"'{s}'" for s in ACTIVE_STATES) + ")"

FIND_MASTER = sa.text(f"""
SELECT id, officer_code FROM case_file
WHERE status IN {_ACTIVE}
  AND master_id IS NULL AND subclass_code = :subclass
  AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :deg)
  AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :radius)
  AND reported_at BETWEEN :since AND :until
ORDER BY ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography), id
LIMIT 1
FOR UPDATE
""")

BUMP_MASTER = sa.text("""
WITH m AS (
    UPDATE case_file SET report_count = report_count + 1, version = version + 1
    WHERE id = :master RETURNING id, report_count
)
INSERT INTO case_event (case_id, kind, actor, data)
SELECT m.id, 'report_added', 'system',
       jsonb_build_object('case_id', CAST(:case_id AS bigint), 'report_count', m.report_count)
FROM m
""")


def find_master(
    conn: Connection,
    sub: Subclass,
    x: float,
    y: float,
    reported_at: datetime,
    home: HomeDistrict,
) -> tuple[int, str | None] | None:
    """The open case (id, officer) this complaint duplicates, locked; None when none."""
    keys = lock_keys(sub.code, x, y, sub.duplicate_radius_m, home)
    execute_prepared(conn, LOCK_CELLS, {"keys": keys}).all()
    window = timedelta(hours=sub.duplicate_window_hours)
    per_lon, per_lat = metres_per_degree(y)
    deg = 1.05 * sub.duplicate_radius_m / max(min(per_lon, per_lat), 1.0)
    row = execute_prepared(
        conn,
        FIND_MASTER,
        {
            "subclass": sub.code,
            "x": x,
            "y": y,
            "deg": deg,
            "radius": sub.duplicate_radius_m,
            "since": reported_at - window,
            "until": reported_at + window,
        },
    ).first()
    return None if row is None else (int(row.id), row.officer_code)


def add_report(conn: Connection, master_id: int, case_id: int) -> None:
    """Count one more report on the master and record it (`report_added`)."""
    execute_prepared(conn, BUMP_MASTER, {"master": master_id, "case_id": case_id})
