"""COPY formats for bulk loads: the binary encoder of cases.bulk.copy against CSV.

`grid assign` COPYs its cases and events straight into their tables. Two ways
to feed COPY are measured on the same rows (a generated file run through the
real pipeline up to the rules, then rolled back):

- binary: `cases.bulk.copy` (PostgreSQL's binary COPY format, encoded with
  numpy/pyarrow), what the loader uses;
- csv: CSV written by pyarrow (C++), times as UTC without an offset, points as
  hex EWKB: the plain alternative, kept here to repeat the comparison.

For each: the client's encoding time (into memory, nothing sent) and the
server's COPY time (from memory, into a temporary table of the target's
columns), for the case rows and the event rows; and the events once more
without their data. Decides whether the hand-written encoder pays for its
lines.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

CHUNK: Final = 200_000
_HEX: Final = np.array([f"{b:02X}".encode() for b in range(256)], dtype="S2")


def _hex(col: pa.Array) -> pa.Array:
    """Binary values (EWKB points, all of one length) as hex text (CSV's geometry form)."""
    size = max((len(v) for v in col.drop_null().to_pylist()[:1]), default=25)
    raw = pc.cast(pc.fill_null(col, b"\x00" * size), pa.binary(size))
    data = np.frombuffer(raw.buffers()[1], dtype=np.uint8)[: size * len(col)]
    text = np.ascontiguousarray(_HEX[data.reshape(len(col), size)]).view(f"S{2 * size}").ravel()
    out = pa.array(text, pa.binary()).cast(pa.string())
    return pc.if_else(col.is_null(), pa.scalar(None, pa.string()), out)


def utc_naive(data: pa.Table) -> pa.Table:
    """`data` with its zoned times as UTC without a zone (pyarrow writes zoned ones slowly)."""
    for i, f in enumerate(data.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz:
            utc = pc.cast(data.column(i), pa.timestamp("us", "UTC"))
            data = data.set_column(i, f.name, utc.cast(pa.timestamp("us")))
    return data


def csv_chunks(table: pa.Table) -> list[bytes]:
    """The rows of `table` as CSV chunks (times as UTC without offset, points as hex)."""
    table = utc_naive(table)
    for i, f in enumerate(table.schema):
        if pa.types.is_binary(f.type):
            table = table.set_column(i, f.name, _hex(table.column(i).combine_chunks()))
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    out = []
    for start in range(0, table.num_rows, CHUNK):
        buf = io.BytesIO()
        pacsv.write_csv(table.slice(start, CHUNK), buf, options)
        out.append(buf.getvalue())
    return out


# ------------------------------------------------------------------ bench


def _copy(conn: sa.Connection, table: str, cols: list[str], chunks: list[bytes], fmt: str) -> None:
    from cases.bulk.copy import _CopyReader

    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.copy_expert(
            f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT {fmt})",
            _CopyReader(((c, 0) for c in chunks), lambda done: None),
            size=1 << 20,
        )


def rows_of(path: Path) -> tuple[pa.Table, pa.Table]:
    """The case and event rows `grid assign` would COPY for `path` (nothing kept)."""
    import cases.bulk.store as store
    from cases.bulk.copy import bulk_connection
    from cases.bulk.read import read_csv
    from cases.bulk.result import AssignResult
    from cases.bulk.validate import validate
    from cases.calendar import load_calendar
    from cases.catalogue import load_catalogue
    from cases.intake.rules import decide
    from gis.db import get_engine
    from gis.settings import get_settings

    settings = get_settings()
    catalogue, calendar = load_catalogue(), load_calendar()
    rows = read_csv(path.read_bytes(), path.name)
    now = int(datetime.now(UTC).timestamp() * 1e6)
    good = store.in_time_order(validate(rows, "wgs84", now, calendar.config.timezone).good)
    with bulk_connection(get_engine()) as conn, conn.begin() as tx:
        gen = store.current_generation(conn)
        store.stage_points(conn, good, lambda done: None)
        store.locate_points(conn, settings)
        located = store.place(conn, good, gen, [s.code for s in catalogue.subclasses])
        tx.rollback()
    decision = decide(located.placed, catalogue, calendar, "bulk")
    ids = 2**40 + np.arange(good.num_rows, dtype=np.int64)
    result = AssignResult(file=path.name, sha256="", crs="wgs84")
    cases = store._case_rows(good, located, decision, ids, result, "bulk")
    events = store._event_rows(decision, ids, numbered=True)
    return cases, events


def bench_copy(path: Path) -> dict[str, Any]:
    """Encode and COPY the rows of `path` both ways; seconds and MB for each."""
    from cases.bulk.copy import binary_chunks, column_types
    from gis.db import get_engine

    cases, events = rows_of(path)
    # The same events with empty data: what the data's bytes cost.
    bare = events.set_column(
        events.schema.get_field_index("data"), "data", pa.repeat(pa.scalar("{}"), len(events))
    )
    out: dict[str, Any] = {"cases": cases.num_rows, "events": events.num_rows}
    with get_engine().connect() as conn:
        for fmt, name, table, like in (
            ("csv", "cases", cases, "case_file"),
            ("csv", "events", events, "case_event"),
            ("binary", "cases", cases, "case_file"),
            ("binary", "events", events, "case_event"),
            ("csv", "events_without_data", bare, "case_event"),
        ):
            kinds = column_types(conn, like)
            conn.rollback()
            t0 = time.perf_counter()
            if fmt == "csv":
                chunks = csv_chunks(table)
            else:
                chunks = [c for c, _ in binary_chunks(table, kinds)]
            encode = time.perf_counter() - t0
            with conn.begin() as tx:
                conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")  # as copy_in has it
                conn.exec_driver_sql(
                    f"CREATE TEMP TABLE bench_copy (LIKE {like} INCLUDING DEFAULTS) ON COMMIT DROP"
                )
                t0 = time.perf_counter()
                _copy(conn, "bench_copy", table.column_names, chunks, fmt)
                copy = time.perf_counter() - t0
                tx.rollback()
            out[f"{fmt}_{name}"] = {
                "encode_s": round(encode, 2),
                "copy_s": round(copy, 2),
                "mb": round(sum(len(c) for c in chunks) / 1e6, 1),
            }
    for fmt in ("csv", "binary"):
        out[f"{fmt}_total_s"] = round(
            sum(out[f"{fmt}_{n}"][k] for n in ("cases", "events") for k in ("encode_s", "copy_s")),
            2,
        )
    return out


def render(copy: dict[str, Any]) -> list[str]:
    """The COPY-format section of RESULTS.md."""
    lines = [
        "### COPY: the binary encoder (cases.bulk.copy) against pyarrow CSV (bench/copyfmt.py)",
        "",
        f"The rows `grid assign` writes for the same file: {copy['cases']:,} cases and "
        f"{copy['events']:,} events, each way into a temporary table of the target's columns. "
        "*encode* = the client's encoding into memory; *COPY* = the server reading it.",
        "",
        "| format | cases: encode | cases: COPY | cases: MB | events: encode | events: COPY "
        "| events: MB | total |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt in ("csv", "binary"):
        c, e = copy[f"{fmt}_cases"], copy[f"{fmt}_events"]
        lines.append(
            f"| {fmt} | {c['encode_s']} s | {c['copy_s']} s | {c['mb']} | {e['encode_s']} s "
            f"| {e['copy_s']} s | {e['mb']} | **{copy[f'{fmt}_total_s']} s** |"
        )
    ratio = copy["binary_total_s"] / max(copy["csv_total_s"], 1e-9)
    bare = copy.get("csv_events_without_data")
    server = sum(copy[f"binary_{n}"]["copy_s"] for n in ("cases", "events")) / max(
        sum(copy[f"csv_{n}"]["copy_s"] for n in ("cases", "events")), 1e-9
    )
    lines += [
        "",
        f"binary ÷ csv: {ratio:.2f} in all, {server:.2f} for the server's COPY alone (the "
        "loader encodes while PostgreSQL reads, so the server's side is the one that counts).",
    ]
    if bare:
        e = copy["csv_events"]
        lines += [
            "",
            f"The same events with empty data (`{{}}`), as CSV: encode {bare['encode_s']} s, "
            f"COPY {bare['copy_s']} s, {bare['mb']} MB, against {e['encode_s']} s, "
            f"{e['copy_s']} s, {e['mb']} MB with their data: what the bytes the events carry "
            "cost.",
        ]
    lines.append("")
    return lines
