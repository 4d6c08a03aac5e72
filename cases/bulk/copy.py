"""COPY in and out for bulk loads, and the connection they run on.

Rows go in in PostgreSQL's binary COPY format, encoded with numpy and pyarrow
over whole columns (a field is its length and its bytes: big-endian numbers,
microseconds since 2000 for times, EWKB for points, a version byte before a
jsonb's text), chunk by chunk while PostgreSQL reads. It is hand-written
because bench/copyfmt.py measured it against CSV written by pyarrow on the
rows of a 1M-row load: the server reads binary faster, by enough to pay for
these lines (bench/RESULTS.md). Rows come out as CSV read by pyarrow.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from cases.bulk.result import FloatArray

COPY_CHUNK_ROWS: Final = 200_000


class _CopyReader(io.RawIOBase):
    """A file-like view of a stream of byte chunks for COPY, reporting progress.

    `read` hands out slices of the current chunk (never more than asked, at
    times less), so each byte is copied once.
    """

    def __init__(self, chunks: Iterator[tuple[bytes, int]], report: Callable[[int], None]) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._pos = 0
        self._report = report

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while self._pos >= len(self._chunk):
            nxt = next(self._chunks, None)
            if nxt is None:
                return b""
            self._chunk, rows_done = nxt
            self._pos = 0
            self._report(rows_done)
        end = len(self._chunk) if size is None or size < 0 else self._pos + size
        out = self._chunk[self._pos : end]
        self._pos += len(out)
        return out


_PGCOPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_PGCOPY_TRAILER: Final = b"\xff\xff"
_PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
_NULL: Final = b"\xff\xff\xff\xff"
_EMPTY: Final = pa.scalar(b"", pa.large_binary())


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


def _boolean(col: pa.Array) -> pa.Array:
    values = np.asarray(pc.fill_null(col, False).to_numpy(zero_copy_only=False), dtype=bool)
    rec = np.empty(len(values), dtype=[("len", ">i4"), ("v", "u1")])
    rec["len"] = 1
    rec["v"] = values
    return _nulls(_fixed(rec), np.asarray(col.is_null(), dtype=bool))


def _bytes(col: pa.Array, prefix: bytes = b"") -> pa.Array:
    """Text (UTF-8) or binary fields: the length, then the bytes (after `prefix`)."""
    data = pc.cast(pc.fill_null(col, ""), pa.large_binary())
    if prefix:
        data = pc.binary_join_element_wise(pa.scalar(prefix, pa.large_binary()), data, _EMPTY)
    lengths = np.asarray(pc.binary_length(data).to_numpy(zero_copy_only=False), dtype=">i4")
    out = pc.binary_join_element_wise(_fixed(lengths), data, _EMPTY)
    return _nulls(out, np.asarray(col.is_null(), dtype=bool))


def _encoder(kind: str) -> Callable[[pa.Array], pa.Array]:
    """The field encoder for a column of PostgreSQL type `kind` (as format_type names it);
    text, varchar and geometry (EWKB bytes) are their bytes."""
    return {
        "bigint": lambda c: _number(c, ">i8", 8),
        "integer": lambda c: _number(c, ">i4", 4),
        "smallint": lambda c: _number(c, ">i2", 2),
        "double precision": lambda c: _number(c, ">f8", 8),
        "boolean": _boolean,
        "timestamp with time zone": _timestamp,
        "jsonb": lambda c: _bytes(c, b"\x01"),
    }.get(kind, _bytes)


def column_types(conn: Connection, table: str) -> dict[str, str]:
    """Each column of `table` and its PostgreSQL type (as format_type names it)."""
    rows = conn.execute(
        sa.text("""
        SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
        WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"""),
        {"t": table},
    ).all()
    return {str(name): str(kind) for name, kind in rows}


def binary_rows(data: pa.Table, kinds: dict[str, str]) -> bytes:
    """The rows of `data` in binary COPY form (no header or trailer), by their columns' types."""
    count = np.full(data.num_rows, data.num_columns, dtype=">i2")
    fields = [_fixed(count)]
    for name in data.column_names:
        kind = kinds[name]
        fields.append(_encoder(kind)(data.column(name).combine_chunks()))
    rows = pc.binary_join_element_wise(*fields, _EMPTY)
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)
    lo, hi = int(offsets[rows.offset]), int(offsets[rows.offset + len(rows)])
    return rows.buffers()[2].to_pybytes()[lo:hi]


def binary_chunks(data: pa.Table, kinds: dict[str, str]) -> Iterator[tuple[bytes, int]]:
    """COPY BINARY in chunks as (bytes, rows done): header, rows, trailer."""
    yield _PGCOPY_HEADER, 0
    for start in range(0, data.num_rows, COPY_CHUNK_ROWS):
        part = data.slice(start, COPY_CHUNK_ROWS)
        yield binary_rows(part, kinds), start + part.num_rows
    yield _PGCOPY_TRAILER, data.num_rows


def copy_in(
    conn: Connection,
    table: str,
    data: pa.Table,
    report: Callable[[int], None] | None = None,
) -> None:
    """COPY the rows of `data` into the columns of `table` named as `data`'s.

    Binary COPY, encoded chunk by chunk as PostgreSQL reads it (see the
    module docs). `table` and the column names come from code, never from a
    file.
    """
    kinds = column_types(conn, table)
    unknown = [n for n in data.column_names if n not in kinds]
    if unknown:
        raise ValueError(f"{table} has no columns {unknown}")
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.copy_expert(
            f"COPY {table} ({', '.join(data.column_names)}) FROM STDIN WITH (FORMAT binary)",
            _CopyReader(binary_chunks(data, kinds), report or (lambda done: None)),
            size=1 << 20,
        )


def copy_out(conn: Connection, query: str, schema: pa.Schema) -> pa.Table:
    """The rows of `query` (from code) through one COPY TO, read by pyarrow as typed CSV."""
    buf = io.BytesIO()
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buf, size=1 << 20)
    if buf.tell() == 0:
        return schema.empty_table()
    return pacsv.read_csv(
        pa.py_buffer(buf.getbuffer()),
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def ewkb(lon: FloatArray, lat: FloatArray) -> pa.Array:
    """Points as EWKB with SRID 4326 (a geometry column's binary form); NaN is null."""
    rec = np.empty(
        len(lon),
        dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")],
    )
    rec["order"] = 1  # little-endian
    rec["type"] = 0x20000001  # Point, with SRID
    rec["srid"] = 4326
    rec["x"] = lon
    rec["y"] = lat
    size = rec.dtype.itemsize
    arr = pa.Array.from_buffers(pa.binary(size), len(rec), [None, pa.py_buffer(rec)])
    arr = arr.cast(pa.binary())
    null = np.isnan(lon) | np.isnan(lat)
    return pc.if_else(pa.array(null), pa.scalar(None, pa.binary()), arr) if null.any() else arr


@contextmanager
def bulk_connection(engine: Engine) -> Iterator[Connection]:
    """A fresh connection (not from the pool) with room for big sorts and temporary tables.

    temp_buffers can only be raised before a session's first temporary table,
    so the connection must be new; it is closed afterwards.
    """
    fresh = sa.create_engine(engine.url, poolclass=NullPool)
    try:
        with fresh.connect() as conn:
            conn.exec_driver_sql("SET temp_buffers = '1GB'")
            conn.exec_driver_sql("SET work_mem = '256MB'")
            conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            conn.commit()
            yield conn
    finally:
        fresh.dispose()
