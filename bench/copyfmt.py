"""COPY formats for bulk loads: pyarrow's CSV writer against a hand-written binary encoder.

`grid assign` COPYs its cases and events straight into their tables. Two ways
to feed COPY are measured on the same rows (a generated file run through the
real pipeline up to the rules, then rolled back):

- csv: `cases.bulk.copy.copy_in`, CSV written by pyarrow (C++) in chunks;
- binary: PostgreSQL's binary COPY format, encoded here with numpy/pyarrow
  (the encoder the bulk loader had before; kept in bench/ only, to repeat the
  comparison).

For each: the client's encoding time (into memory, nothing sent) and the
server's COPY time (from memory, into a temporary table of the target's
columns), for the case rows and the event rows. Decides which one the loader
keeps: the binary encoder only if it pays for its lines.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

_PGCOPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_PGCOPY_TRAILER: Final = b"\xff\xff"
_PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
_NULL: Final = b"\xff\xff\xff\xff"
CHUNK: Final = 200_000


# ------------------------------------------------------- the binary encoder


def _fixed(rec: npt.NDArray[Any]) -> pa.Array:
    """Fixed-size numpy records as a large_binary array of their bytes."""
    arr = pa.Array.from_buffers(pa.binary(rec.dtype.itemsize), len(rec), [None, pa.py_buffer(rec)])
    return pc.cast(pc.cast(arr, pa.binary()), pa.large_binary())


def _nulls(arr: pa.Array, null: npt.NDArray[np.bool_]) -> pa.Array:
    if not null.any():
        return arr
    return pc.if_else(pa.array(null), pa.scalar(_NULL, pa.large_binary()), arr)


def _number(col: pa.Array, kind: str, size: int) -> pa.Array:
    values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    null = np.isnan(values)
    rec = np.empty(len(values), dtype=[("len", ">i4"), ("v", kind)])
    rec["len"] = size
    rec["v"] = np.where(null, 0, values).astype(kind)
    return _nulls(_fixed(rec), null)


def _timestamp(col: pa.Array) -> pa.Array:
    us = np.asarray(pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    null = np.isnan(us)
    rec = np.empty(len(us), dtype=[("len", ">i4"), ("v", ">i8")])
    rec["len"] = 8
    rec["v"] = np.where(null, 0, us).astype(np.int64) - _PG_EPOCH_US
    return _nulls(_fixed(rec), null)


def _text(col: pa.Array, prefix: bytes = b"") -> pa.Array:
    data = pc.cast(pc.fill_null(col, ""), pa.large_binary())
    if prefix:
        data = pc.binary_join_element_wise(
            pa.scalar(prefix, pa.large_binary()), data, pa.scalar(b"", pa.large_binary())
        )
    lengths = np.asarray(pc.binary_length(data).to_numpy(zero_copy_only=False), dtype=">i4")
    out = pc.binary_join_element_wise(_fixed(lengths), data, pa.scalar(b"", pa.large_binary()))
    return _nulls(out, np.asarray(col.is_null(), dtype=bool))


def _point_hex(col: pa.Array) -> pa.Array:
    """geometry fields from the hex EWKB text the CSV path writes: the 25 bytes."""
    raw = pc.cast(pc.fill_null(col, "00" * 25), pa.string())
    text = np.frombuffer(pc.cast(raw, pa.binary(50)).buffers()[1], dtype="S50")
    values = np.frombuffer(bytes.fromhex(b"".join(text).decode()), dtype=np.uint8)
    rec = np.empty(len(col), dtype=[("len", ">i4"), ("v", "V25")])
    rec["len"] = 25
    rec["v"] = values.view("V25")
    return _nulls(_fixed(rec), np.asarray(col.is_null(), dtype=bool))


def _boolean(col: pa.Array) -> pa.Array:
    values = np.asarray(pc.fill_null(col, False).to_numpy(zero_copy_only=False), dtype=bool)
    rec = np.empty(len(values), dtype=[("len", ">i4"), ("v", "u1")])
    rec["len"] = 1
    rec["v"] = values
    return _nulls(_fixed(rec), np.asarray(col.is_null(), dtype=bool))


def _encoder(kind: str) -> Callable[[pa.Array], pa.Array]:
    """The field encoder for a column of PostgreSQL type `kind` (format_type's name)."""
    if kind.startswith("geometry"):
        return _point_hex
    return {
        "bigint": lambda c: _number(c, ">i8", 8),
        "integer": lambda c: _number(c, ">i4", 4),
        "smallint": lambda c: _number(c, ">i2", 2),
        "double precision": lambda c: _number(c, ">f8", 8),
        "boolean": _boolean,
        "timestamp with time zone": _timestamp,
        "jsonb": lambda c: _text(c, b"\x01"),
    }.get(kind, _text)


def binary_chunks(table: pa.Table, kinds: dict[str, str]) -> list[bytes]:
    """The rows of `table` in COPY BINARY form, in chunks (header first, trailer last)."""
    out = [_PGCOPY_HEADER]
    for start in range(0, table.num_rows, CHUNK):
        part = table.slice(start, CHUNK)
        count = np.full(part.num_rows, part.num_columns, dtype=">i2")
        fields = [_fixed(count)]
        for name in part.column_names:
            fields.append(_encoder(kinds[name])(part.column(name).combine_chunks()))
        rows = pc.binary_join_element_wise(*fields, pa.scalar(b"", pa.large_binary()))
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)
        lo, hi = int(offsets[rows.offset]), int(offsets[rows.offset + len(rows)])
        out.append(rows.buffers()[2].to_pybytes()[lo:hi])
    out.append(_PGCOPY_TRAILER)
    return out


def csv_chunks(table: pa.Table) -> list[bytes]:
    """The rows of `table` as CSV chunks, as cases.bulk.copy.copy_in writes them."""
    from cases.bulk.copy import utc_naive

    table, _ = utc_naive(table)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    out = []
    for start in range(0, table.num_rows, CHUNK):
        buf = io.BytesIO()
        pacsv.write_csv(table.slice(start, CHUNK), buf, options)
        out.append(buf.getvalue())
    return out


# ------------------------------------------------------------------ bench


def column_types(conn: sa.Connection, table: str) -> dict[str, str]:
    """Each column of `table` and its PostgreSQL type (as format_type names it)."""
    rows = conn.execute(
        sa.text("""
        SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
        WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"""),
        {"t": table},
    ).all()
    return {str(name): str(kind) for name, kind in rows}


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
        located, roster = store.place(conn, good, gen, [s.code for s in catalogue.subclasses])
        tx.rollback()
    decision = decide(located.placed, catalogue, calendar, roster, "bulk")
    ids = 2**40 + np.arange(good.num_rows, dtype=np.int64)
    result = AssignResult(file=path.name, sha256="", crs="wgs84")
    cases = store._case_rows(good, located, decision, ids, result, "bulk")
    events = store._event_rows(decision, ids, numbered=True)
    return cases, events


def bench_copy(path: Path) -> dict[str, Any]:
    """Encode and COPY the rows of `path` both ways; seconds and MB for each."""
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
            chunks = csv_chunks(table) if fmt == "csv" else binary_chunks(table, kinds)
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
        "### COPY: pyarrow CSV against a hand-written binary encoder (bench/copyfmt.py)",
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
    lines += ["", f"binary ÷ csv: {ratio:.2f}."]
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
