"""`assign_file`: read, validate, then stage, locate and store in one transaction.

The same file (same SHA-256, whatever its name) assigned twice creates nothing
the second time: the first assignment is recorded in `idempotency_record`
(scope `grid-assign`, key = the SHA-256) in the same transaction as its cases,
and a repeat returns the first result with `already_assigned=True`.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cases.bulk.copy import bulk_connection
from cases.bulk.read import Rows, file_sha256, read_csv, read_geojson, read_parquet
from cases.bulk.result import IDEMPOTENCY_SCOPE, SUFFIXES, AssignError, AssignResult, Progress
from cases.bulk.store import (
    Located,
    current_generation,
    in_time_order,
    locate_points,
    place,
    stage_points,
    write_cases,
)
from cases.bulk.validate import Checked, validate, write_rejects
from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from gis import crs as crsmod
from gis.settings import Settings, get_settings


def counts_by_neighbour(located: Located) -> dict[str, int]:
    """Referred-out rows per neighbouring district name ('(no loaded district)' when none)."""
    p = located.placed
    outside = pc.equal(p.method, "outside")
    names = pc.fill_null(p.district_name, "(no loaded district)").filter(outside)
    counts = pc.value_counts(names)
    pairs = [(str(c["values"]), int(c["counts"])) for c in counts.to_pylist()]
    return dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))


def _prior(conn: Connection, sha: str) -> AssignResult | None:
    row = conn.execute(
        sa.text("SELECT body FROM idempotency_record WHERE scope = :s AND key = :k"),
        {"s": IDEMPOTENCY_SCOPE, "k": sha},
    ).first()
    if row is None:
        return None
    result = AssignResult.from_dict(json.loads(row.body))
    result.already_assigned = True
    result.timings = {}
    return result


def _claim(conn: Connection, sha: str) -> bool:
    """Record the file in this transaction; False if it was assigned already.

    A concurrent assignment of the same file waits here until the first
    commits (primary key), then finds it.
    """
    got = conn.execute(
        sa.text("""
        INSERT INTO idempotency_record (scope, key, request_hash, status_code, body, media_type)
        VALUES (:s, :k, :k, 202, '{}', 'application/json')
        ON CONFLICT (scope, key) DO NOTHING RETURNING key"""),
        {"s": IDEMPOTENCY_SCOPE, "k": sha},
    ).first()
    return got is not None


class _AlreadyAssigned(Exception):
    """The claim found the file assigned (by a concurrent run that committed first)."""


def _store(
    engine: Engine,
    checked: Checked,
    result: AssignResult,
    timings: dict[str, float],
    progress: Progress | None,
    source: str,
    settings: Settings,
) -> None:
    """Stage, locate, decide and write in one transaction; fills counts and timings."""

    def step(name: str, done: int = 0, total: int = 1) -> None:
        if progress is not None:
            progress(name, done, total)

    good = in_time_order(checked.good)
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    calendar = load_calendar(settings.data_dir)
    with bulk_connection(engine) as conn, conn.begin():
        if not _claim(conn, result.sha256):
            raise _AlreadyAssigned
        generation = current_generation(conn)
        t0 = time.perf_counter()
        step("copy")
        stage_points(conn, good, lambda done: step("copy", done, good.num_rows))
        timings["copy"] = time.perf_counter() - t0
        step("copy", 1, 1)
        t0 = time.perf_counter()
        step("locate")
        counts = locate_points(conn, settings)
        timings["locate"] = time.perf_counter() - t0
        step("locate", 1, 1)
        result.located = counts.get("contained", 0)
        result.gap_snapped = counts.get("snapped", 0)
        result.unassigned = counts.get("unassigned", 0)
        result.referred_out = counts.get("outside", 0)

        t0 = time.perf_counter()
        step("insert")
        located = place(conn, good, generation, [s.code for s in catalogue.subclasses], settings)
        result.referred_to = counts_by_neighbour(located)
        timings["place"] = time.perf_counter() - t0
        write_cases(
            conn,
            good,
            located,
            catalogue,
            calendar,
            result,
            source,
            settings,
            progress,
            timings,
        )
        conn.exec_driver_sql("TRUNCATE bulk_point")
        conn.execute(
            sa.text(
                "UPDATE idempotency_record SET status_code = 200, body = :b "
                "WHERE scope = :s AND key = :k"
            ),
            {
                "s": IDEMPOTENCY_SCOPE,
                "k": result.sha256,
                "b": json.dumps(result.as_dict(), ensure_ascii=False),
            },
        )
        t0 = time.perf_counter()
    timings["commit"] = time.perf_counter() - t0


def _kind(path: Path) -> str:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise AssignError(
            f"{path.name}: unknown file type {path.suffix!r}; use .csv, .geojson or .parquet",
            usage=True,
        )
    return kind


def assign_file(
    engine: Engine,
    path: Path,
    crs: str,
    *,
    progress: Progress | None = None,
    source: str = "bulk",
    rejects: Path | None = None,
    list_rejects: int = 20,
    settings: Settings | None = None,
) -> AssignResult:
    """Assign every complaint of a CSV/GeoJSON/GeoParquet file; see cases.bulk.

    Raises AssignError (file-level problems: missing, unreadable, no header,
    missing columns), UnknownCRSError (bad `crs`) and database errors; a bad
    row never raises. `rejects` is where the rejects CSV goes (default
    `<file>.rejects.csv` beside the input), written only when there are some.
    """
    settings = settings or get_settings()
    crs_name = crsmod.parse_crs(crs)
    path = Path(path)
    if not path.exists():
        raise AssignError(f"{path}: no such file", usage=True)
    if not path.is_file():
        raise AssignError(f"{path}: not a file", usage=True)
    kind = _kind(path)

    def step(name: str, done: int = 0, total: int = 1) -> None:
        if progress is not None:
            progress(name, done, total)

    timings: dict[str, float] = {}
    t_all = t0 = time.perf_counter()
    step("read")
    try:
        data = path.read_bytes() if kind == "csv" else b""
    except OSError as exc:
        raise AssignError(f"{path}: cannot be read: {exc.strerror}") from exc
    sha = hashlib.sha256(data).hexdigest() if kind == "csv" else file_sha256(path)
    with engine.connect() as conn:
        prior = _prior(conn, sha)
    if prior is not None:
        return prior
    rows: Rows
    if kind == "csv":
        rows = read_csv(data, path.name)
    elif kind == "geojson":
        rows = read_geojson(path)
    else:
        rows = read_parquet(path)
    del data
    timings["read"] = time.perf_counter() - t0
    step("read", 1, 1)

    t0 = time.perf_counter()
    step("validate")
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    timezone = load_calendar(settings.data_dir).config.timezone
    checked = validate(rows, crs_name, now_us, timezone)
    result = AssignResult(
        file=path.name,
        sha256=sha,
        crs=crs_name,
        rows=rows.n + len(rows.pre_line),
        invalid=len(checked.reject_line),
        no_location=checked.no_location,
        line_numbers=rows.line_numbers,
        first_rejects=[
            (int(a), str(b))
            for a, b in zip(
                checked.reject_line[:list_rejects],
                checked.reject_reason[:list_rejects],
                strict=True,
            )
        ],
        assigned_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if result.invalid:
        target = rejects or path.with_name(path.name + ".rejects.csv")
        write_rejects(target, checked)
        result.rejects_path = str(target)
    timings["validate"] = time.perf_counter() - t0
    step("validate", 1, 1)

    try:
        _store(engine, checked, result, timings, progress, source, settings)
    except _AlreadyAssigned:
        with engine.connect() as conn:
            again = _prior(conn, sha)
        if again is None:  # pragma: no cover - the claim saw it, so it is there
            raise AssignError("the file was being assigned concurrently; try again") from None
        return again
    step("insert", 1, 1)
    timings["insert"] = sum(
        timings.get(k, 0.0) for k in ("place", "decide", "write", "index_attach", "commit")
    )
    timings["total"] = time.perf_counter() - t_all
    result.timings = {k: round(v, 3) for k, v in timings.items()}
    return result
