"""Storing a load: stage and locate the points, apply the rules, COPY cases and events.

All in the caller's transaction, set-based, no statement per row:

1. stage: the points are COPY-ed into `bulk_point` (unlogged, so parallel
   workers can read it; taken whole by TRUNCATE, so loads queue one after
   another) with their row's position as id;
2. locate: gis.locate.locate_table over them;
3. place: the located points come back in one COPY and are met with the
   layout (grid → community, subdistrict, station, squad; neighbour names);
   the rows at a station are COPY-ed into a temporary table with their
   moment of dispatch, and one statement (cases.stations.onduty, the rule a
   complaint filed one at a time goes through) names the officer who takes
   each: the one on a shift covering its moment, or else the station's
   officers in turn. Then cases.intake.rules — the same rules as a
   complaint filed one at a time;
4. write: cases and events are COPY-ed straight into their tables, cases in
   order of `reported_at` (the good rows are sorted first: `in_time_order`),
   events grouped by kind. A load of at least `settings.bulk_partition_rows`
   good rows goes into partitions of its own (`case_batch_open`): no index to
   keep up row by row and no foreign-key check per row; `case_batch_close`
   then builds their indexes in one pass each and attaches them, which
   checks the foreign keys of the whole load with one query per key. A
   smaller load goes into the live partitions, checked row by row.

Events of a batch are numbered from their case's id (id × 8 + their place
among the case's events at intake, fewer than 8), so their ids never meet
those of case_event_id_seq (case ids of batches start at 2^40).

COPY in and out: cases.bulk.copy (binary COPY in, CSV read by pyarrow out).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cases.bulk.copy import copy_in, copy_out, ewkb
from cases.bulk.history import clock_of, count_statuses, history_of
from cases.bulk.result import AssignResult, Progress
from cases.bulk.validate import tokens
from cases.calendar import WorkCalendar
from cases.catalogue import Catalogue
from cases.intake.rules import (
    EVENTS_PER_CASE,
    Decision,
    Placed,
    decide,
    window_counts,
)
from cases.lifecycle.holders import Leaders, load_leaders
from cases.models import BATCH_SPAN, LIVE_END
from cases.stations.onduty import pick_officers_from
from gis.locate import locate_table
from gis.settings import Settings

EVENT_ID_FACTOR: Final = 8
"""Events of a batch: id = case id × this + position (it exceeds EVENTS_PER_CASE)."""
assert EVENT_ID_FACTOR > EVENTS_PER_CASE

CASE_COLUMNS: Final = (
    "id",
    "token",
    "status",
    "subclass_code",
    "tier",
    "description",
    "address",
    "source",
    "lon_in",
    "lat_in",
    "crs_in",
    "geom",
    "locate_method",
    "locate_distance_m",
    "grid_cell_id",
    "grid_code",
    "community_code",
    "subdistrict_code",
    "station_code",
    "squad_code",
    "district_code",
    "officer_code",
    "reported_at",
    "due_at",
    "status_note",
    "external_ref",
    "holder_role",
    "holder_code",
    "department_code",
    "dispatched_at",
    "due_provisional",
    "reply_due_at",
    "reply_provisional",
)


# ---------------------------------------------------------- stage, locate


def stage_points(conn: Connection, good: pa.Table, report: Callable[[int], None]) -> None:
    """Stage the good rows' points in `bulk_point` (id = the row's position)."""
    conn.exec_driver_sql("TRUNCATE bulk_point")
    lon = np.asarray(good.column("lon").to_numpy(zero_copy_only=False), dtype=np.float64)
    lat = np.asarray(good.column("lat").to_numpy(zero_copy_only=False), dtype=np.float64)
    has = np.flatnonzero(~np.isnan(lon) & ~np.isnan(lat))
    points = pa.table({"id": pa.array(has, pa.int64()), "geom": ewkb(lon[has], lat[has])})
    copy_in(conn, "bulk_point", points, report=report)


def locate_points(conn: Connection, settings: Settings) -> dict[str, int]:
    """Locate the staged points into the temporary table `bulk_loc`; counts per method."""
    return locate_table(conn, "bulk_point", "bulk_loc", settings=settings)


_LOC_SCHEMA: Final = pa.schema(
    [
        ("point_id", pa.int64()),
        ("grid_cell_id", pa.int64()),
        ("method", pa.string()),
        ("distance_m", pa.float64()),
        ("district_code", pa.string()),
    ]
)
_GRID_SCHEMA: Final = pa.schema(
    [
        ("id", pa.int64()),
        ("code", pa.string()),
        ("community_code", pa.string()),
        ("subdistrict_code", pa.string()),
        ("station", pa.string()),
        ("squad", pa.string()),
    ]
)
_GRIDS: Final = """
SELECT g.id, g.code, g.community_code, c.subdistrict_code, st.code, sc.squad_code
FROM grid_cell g JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
LEFT JOIN community c ON c.generation_id = g.generation_id AND c.code = g.community_code
LEFT JOIN station st ON st.community_code = g.community_code
LEFT JOIN squad_community sc ON sc.community_code = g.community_code"""


@dataclass
class Located:
    """The rules' input for the good rows, and the layout columns the case rows carry."""

    placed: Placed
    grid_cell_id: npt.NDArray[np.float64]  # NaN: none
    community: pa.Array
    subdistrict: pa.Array
    leaders: Leaders = field(default_factory=Leaders)
    grid_departments: pa.Array | None = None  # `grid_code/department_code` keys (党建+N)


def _column(table: pa.Table, name: str, at: pa.Array) -> pa.Array:
    """`table[name]` taken at positions `at` (null where `at` is null)."""
    return table.column(name).combine_chunks().take(at)


_EARLIER: Final = """
SELECT grid_code || '/' || subclass_code AS key, extract(epoch FROM reported_at)::bigint AS at
FROM case_file
WHERE grid_code IS NOT NULL AND subclass_code IN ({codes})
  AND reported_at >= to_timestamp({lo}) AND reported_at <= to_timestamp({hi})"""
_EARLIER_SCHEMA: Final = pa.schema([("key", pa.string()), ("at", pa.int64())])


def prior_reports(
    conn: Connection, grid_code: pa.Array, subclass: pa.Array, times: npt.NDArray[Any], days: float
) -> npt.NDArray[np.int64]:
    """Earlier reports of each row's subclass in its grid within `days` (rule 2 of
    cases.intake.rules): the database's, read in one COPY, and the file's own
    earlier rows, counted set-based by `window_counts`."""
    keys = pc.binary_join_element_wise(grid_code, subclass, "/")
    secs = np.asarray(times, dtype="datetime64[s]").astype(np.int64)
    in_grid = np.asarray(pc.is_valid(grid_code))
    if not in_grid.any():
        return np.zeros(len(keys), dtype=np.int64)
    codes = sorted(set(pc.unique(subclass).to_pylist()))
    if not all(isinstance(c, str) and c.isdigit() for c in codes):  # validated catalogue codes
        raise ValueError("subclass codes are digits")
    lo = int(secs[in_grid].min()) - round(days * 86_400)
    query = _EARLIER.format(
        codes=", ".join(f"'{c}'" for c in codes), lo=lo, hi=int(secs[in_grid].max())
    )
    earlier = copy_out(conn, query, _EARLIER_SCHEMA)
    old_times = np.asarray(earlier.column("at").to_numpy(), dtype=np.int64).astype("datetime64[s]")
    return window_counts(
        keys, np.asarray(times), days, earlier.column("key").combine_chunks(), old_times
    )


_DUTY_TABLE: Final = "bulk_duty"
_DUTY_SCHEMA: Final = pa.schema([("n", pa.int64()), ("code", pa.string())])


def duty_officers(conn: Connection, station: pa.Array, dispatched: npt.NDArray[Any]) -> pa.Array:
    """The officer who takes each row if it is dispatched (rule 4 of cases.intake.rules):
    the rows at a station go into a temporary table in one COPY, and the statement of
    cases.stations.onduty chooses for all of them at once; null without a station."""
    n = len(station)
    at = np.flatnonzero(np.asarray(pc.is_valid(station)))
    if len(at) == 0:
        return pa.nulls(n, pa.string())
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_DUTY_TABLE} "
        "(n bigint, station text, at timestamptz) ON COMMIT DROP"
    )
    conn.exec_driver_sql(f"TRUNCATE {_DUTY_TABLE}")
    rows = pa.table(
        {
            "n": pa.array(at, pa.int64()),
            "station": station.take(pa.array(at)),
            "at": pa.array(np.asarray(dispatched, dtype="datetime64[us]")[at]).cast(
                pa.timestamp("us", "UTC")
            ),
        }
    )
    copy_in(conn, _DUTY_TABLE, rows)
    conn.exec_driver_sql(f"ANALYZE {_DUTY_TABLE}")
    # Hash joins only: the planner, misled by the CTEs' estimates, sorted a million rows
    # to merge them with an empty set of shifts (11.4 s -> 8.9 s for 1M, same answer).
    conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
    picked = copy_out(conn, pick_officers_from(_DUTY_TABLE), _DUTY_SCHEMA)
    conn.exec_driver_sql("SET LOCAL enable_mergejoin TO DEFAULT")
    pos = np.full(n, -1, dtype=np.int64)
    pos[np.asarray(picked.column("n").to_numpy(), dtype=np.int64)] = np.arange(picked.num_rows)
    return _column(picked, "code", pa.array(pos, mask=pos < 0))


def place(
    conn: Connection,
    good: pa.Table,
    generation: int,
    catalogue_codes: Sequence[str],
    settings: Settings | None = None,
) -> Located:
    """The located points met with the layout, and the officer each row goes to."""
    n = good.num_rows
    loc = copy_out(
        conn,
        "SELECT point_id, grid_cell_id, method, distance_m, district_code FROM bulk_loc",
        _LOC_SCHEMA,
    )
    grids = copy_out(conn, _GRIDS, _GRID_SCHEMA)
    districts = conn.execute(
        sa.text("SELECT code, name FROM district WHERE generation_id = :g"), {"g": generation}
    ).all()
    pos = np.full(n, -1, dtype=np.int64)
    pos[np.asarray(loc.column("point_id").to_numpy(), dtype=np.int64)] = np.arange(loc.num_rows)
    at = pa.array(pos, mask=pos < 0)
    method = pc.fill_null(_column(loc, "method", at), "none")
    grid_id = _column(loc, "grid_cell_id", at)
    g_at = pc.index_in(grid_id, value_set=grids.column("id").combine_chunks())
    district = _column(loc, "district_code", at)
    outside = pc.equal(method, "outside")
    d_codes = pa.array([d.code for d in districts], pa.string())
    d_names = pa.array([d.name for d in districts], pa.string())
    named = d_names.take(pc.index_in(district, value_set=d_codes))
    distance = np.asarray(
        _column(loc, "distance_m", at).to_numpy(zero_copy_only=False), dtype=np.float64
    )
    reported = np.asarray(
        good.column("reported_at").combine_chunks().cast(pa.int64()).to_numpy(), dtype=np.int64
    ).astype("datetime64[us]")
    dispatched = clock_of(good, reported)  # rules 3 and 6 of cases.intake.rules
    unknown = set(pc.unique(good.column("subclass")).to_pylist()) - set(catalogue_codes)
    if unknown:  # validation refused these already
        raise ValueError(f"unknown subclasses reached the store: {sorted(unknown)[:5]}")
    grid_code = _column(grids, "code", g_at)
    subclass = good.column("subclass").combine_chunks()
    days = settings.repeat_report_days if settings is not None else 30.0
    station = _column(grids, "station", g_at)
    placed = Placed(
        subclass=subclass,
        method=method,
        grid_code=grid_code,
        distance_m=np.round(distance, 2),
        station=station,
        squad=_column(grids, "squad", g_at),
        district_code=district,
        district_name=pc.if_else(outside, named, pa.nulls(n, pa.string())),
        generation=np.full(n, generation, dtype=np.int64),
        dispatched_at=dispatched,
        master_id=np.full(n, -1, dtype=np.int64),
        master_officer=pa.nulls(n, pa.string()),
        duty_officer=duty_officers(conn, station, dispatched),
        prior_reports=prior_reports(conn, grid_code, subclass, dispatched, days),
    )
    pairs = conn.execute(
        sa.text("SELECT grid_code || '/' || department_code FROM grid_department")
    ).scalars()
    located = Located(
        placed=placed,
        grid_cell_id=np.asarray(grid_id.to_numpy(zero_copy_only=False), dtype=np.float64),
        community=_column(grids, "community_code", g_at),
        subdistrict=_column(grids, "subdistrict_code", g_at),
        leaders=load_leaders(conn, settings.deputy_in_charge if settings else None),
        grid_departments=pa.array(list(pairs), pa.string()),
    )
    return located


# ------------------------------------------------------------------ write


def _case_rows(
    good: pa.Table,
    located: Located,
    decision: Decision,
    ids: npt.NDArray[np.int64],
    result: AssignResult,
    source: str,
) -> pa.Table:
    """The case rows, in the good rows' order (by reported_at: see `in_time_order`)."""
    n = good.num_rows
    p = located.placed
    has_point = pc.not_equal(p.method, "none")
    crs = pc.if_else(has_point, result.crs[:16], pa.scalar(None, pa.string()))
    lon = np.asarray(good.column("lon").to_numpy(zero_copy_only=False), dtype=np.float64)
    lat = np.asarray(good.column("lat").to_numpy(zero_copy_only=False), dtype=np.float64)
    lines = good.column("line").combine_chunks().cast(pa.string())
    ref = pc.binary_join_element_wise(f"{result.file}:", lines, "")

    def ts(values: npt.NDArray[np.datetime64]) -> pa.Array:
        return pa.array(np.asarray(values, dtype="datetime64[us]"), pa.timestamp("us", "UTC"))

    columns: dict[str, pa.Array] = {
        "id": pa.array(ids, pa.int64()),
        "token": tokens(n),
        "status": decision.status,
        "subclass_code": p.subclass,
        "tier": decision.tier,
        "description": good.column("description").combine_chunks(),
        "address": good.column("address").combine_chunks(),
        "source": pa.repeat(pa.scalar(source), n),
        "lon_in": good.column("lon_in").combine_chunks(),
        "lat_in": good.column("lat_in").combine_chunks(),
        "crs_in": crs,
        "geom": ewkb(lon, lat),
        "locate_method": p.method,
        "locate_distance_m": pa.array(p.distance_m, from_pandas=True),
        "grid_cell_id": pa.array(located.grid_cell_id, from_pandas=True).cast(pa.int64()),
        "grid_code": p.grid_code,
        "community_code": located.community,
        "subdistrict_code": located.subdistrict,
        "station_code": p.station,
        "squad_code": p.squad,
        "district_code": p.district_code,
        "officer_code": decision.officer,
        "reported_at": good.column("reported_at").combine_chunks(),
        "due_at": ts(decision.due_at),
        "status_note": decision.note,
        "external_ref": ref,
        "holder_role": decision.holder_role,
        "holder_code": decision.holder_code,
        "department_code": decision.department,
        "dispatched_at": ts(np.where(np.isnat(decision.due_at), decision.due_at, p.dispatched_at)),
        "due_provisional": pa.array(decision.due_provisional),
        "reply_due_at": ts(decision.reply_due_at),
        "reply_provisional": pa.array(decision.reply_provisional),
    }
    assert tuple(columns) == CASE_COLUMNS
    if decision.closed_at is not None and decision.rating is not None:  # rule 6: history
        columns["closed_at"] = ts(decision.closed_at)
        columns["rating"] = pa.array(np.where(decision.rating > 0, decision.rating, np.nan))
    return pa.table(columns)


def _event_rows(decision: Decision, ids: npt.NDArray[np.int64], numbered: bool) -> pa.Table:
    """The event rows as the rules list them (grouped by kind, each case's in order)."""
    ev = decision.events
    row = np.asarray(ev.column("row").to_numpy(), dtype=np.int64)
    seq = np.asarray(ev.column("seq").to_numpy(), dtype=np.int64)
    case_id = ids[row]
    cols: dict[str, pa.Array] = {}
    if numbered:
        cols["id"] = pa.array(case_id * EVENT_ID_FACTOR + seq, pa.int64())
    cols["case_id"] = pa.array(case_id, pa.int64())
    for name in ("kind", "actor", "data", "at"):
        if name in ev.column_names:  # `at`: dated by the file's history (else: now)
            cols[name] = ev.column(name).combine_chunks()
    return pa.table(cols)


def in_time_order(good: pa.Table) -> pa.Table:
    """The good rows by reported_at (stable): cases are written, and numbered, in that order,
    so the indexes on time grow at their ends."""
    at = np.asarray(good.column("reported_at").combine_chunks().cast(pa.int64()).to_numpy())
    order = np.argsort(at, kind="stable")
    if np.all(order[1:] > order[:-1]):
        return good
    return good.take(pa.array(order))


def write_cases(
    conn: Connection,
    good: pa.Table,
    located: Located,
    catalogue: Catalogue,
    calendar: WorkCalendar,
    result: AssignResult,
    source: str,
    settings: Settings,
    progress: Progress | None,
    timings: dict[str, float],
) -> None:
    """Apply the rules and write the cases and their events (see the module docs)."""
    n = good.num_rows
    t0 = time.perf_counter()
    history = history_of(good)
    decision = decide(
        located.placed,
        catalogue,
        calendar,
        source,
        leaders=located.leaders,
        grid_departments=located.grid_departments,
        settings=settings,
        history=history,
    )
    count_statuses(result, decision.status, history)
    batch = n >= settings.bulk_partition_rows
    if batch:
        base = int(conn.execute(sa.text("SELECT case_batch_open(:n)"), {"n": n}).scalar_one())
        part = f"b{(base - LIVE_END) // BATCH_SPAN + 1:06d}"
        case_table, event_table = f"case_file_part_{part}", f"case_event_part_{part}"
        ids = base + np.arange(n, dtype=np.int64)
    else:
        case_table, event_table = "case_file", "case_event"
        ids = np.asarray(
            conn.execute(
                sa.text("SELECT nextval('case_file_id_seq') FROM generate_series(1, :n)"),
                {"n": n},
            )
            .scalars()
            .all(),
            dtype=np.int64,
        )
        ids.sort()
    cases = _case_rows(good, located, decision, ids, result, source)
    events = _event_rows(decision, ids, numbered=batch)
    timings["decide"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    total = n + events.num_rows

    def report(done: int) -> None:
        if progress is not None:
            progress("insert", done, total)

    copy_in(conn, case_table, cases, report=report)
    copy_in(conn, event_table, events, report=lambda done: report(n + done))
    timings["write"] = time.perf_counter() - t0
    if batch:
        t0 = time.perf_counter()
        timings.update(close_batch(conn, base))
        timings["index_attach"] = time.perf_counter() - t0
    result.partition = case_table if batch else None


def close_batch(conn: Connection, base: int) -> dict[str, float]:
    """Index and attach a batch's partitions (`case_batch_close`); seconds per step.

    The function reports its steps at DEBUG level (index builds, ANALYZE,
    attaching the cases with their foreign-key checks, then the events with
    theirs); they are read from the connection's notices.
    """
    raw = conn.connection.dbapi_connection
    notices: list[str] = getattr(raw, "notices", [])
    del notices[:]
    # On the driver's cursor: SQLAlchemy's own execution would take the notices away.
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute("SET LOCAL client_min_messages = debug1")
        cur.execute("SELECT case_batch_close(%s)", (base,))
        cur.execute("SET LOCAL client_min_messages = notice")
    steps: dict[str, float] = {}
    for line in notices:
        words = line.split()
        if len(words) == 4 and words[1] == "case_batch_close":
            steps[f"close_{words[2]}"] = float(words[3])
    return steps


def current_generation(conn: Connection) -> int:
    """The current layout generation (LookupError when none is loaded)."""
    gen = conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar()
    if gen is None:
        raise LookupError("no layout is loaded: run `grid demo --no-serve` or `grid load`")
    return int(gen)
