"""COPY in and out for bulk loads, and the connection they run on.

CSV written by pyarrow (C++), in chunks while PostgreSQL reads them, is how
rows go in: bench/copyfmt.py measured it against a hand-written encoder of
PostgreSQL's binary COPY format, which did not pay for its lines (see
bench/RESULTS.md). Rows come out the same way, read by pyarrow.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import numpy as np
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


def copy_in(
    conn: Connection,
    table: str,
    data: pa.Table,
    columns: Sequence[str] | None = None,
    report: Callable[[int], None] | None = None,
) -> None:
    """COPY the rows of `data` into `table` (columns named as in `data`, or `columns`).

    CSV written by pyarrow, chunk by chunk as PostgreSQL reads it: NULL is
    an empty field, an empty string is "" (PostgreSQL's CSV rules). `table`
    and the column names come from code, never from a file. Times are
    written as UTC without an offset (pyarrow writes zoned times ten times
    slower), read as UTC because the session's time zone is set to it.
    """
    cols = ", ".join(columns or data.column_names)
    total = data.num_rows
    data, zoned = utc_naive(data)
    if zoned:
        conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def chunks() -> Iterator[tuple[bytes, int]]:
        for start in range(0, total, COPY_CHUNK_ROWS):
            part = data.slice(start, COPY_CHUNK_ROWS)
            buf = io.BytesIO()
            pacsv.write_csv(part, buf, options)
            yield buf.getvalue(), start + part.num_rows

    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.copy_expert(
            f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)",
            _CopyReader(chunks(), report or (lambda done: None)),
            size=1 << 20,
        )


def utc_naive(data: pa.Table) -> tuple[pa.Table, bool]:
    """`data` with its zoned times as UTC without a zone; whether it had any."""
    zoned = [i for i, f in enumerate(data.schema) if pa.types.is_timestamp(f.type) and f.type.tz]
    for i in zoned:
        utc = pc.cast(data.column(i), pa.timestamp("us", "UTC"))
        data = data.set_column(i, data.field(i).name, utc.cast(pa.timestamp("us")))
    return data, bool(zoned)


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


_HEX: Final = np.array([f"{b:02X}".encode() for b in range(256)], dtype="S2")


def ewkb_hex(lon: FloatArray, lat: FloatArray) -> pa.Array:
    """Points as hex EWKB with SRID 4326 (what a geometry column reads); NaN is null."""
    rec = np.empty(
        len(lon),
        dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")],
    )
    rec["order"] = 1  # little-endian
    rec["type"] = 0x20000001  # Point, with SRID
    rec["srid"] = 4326
    rec["x"] = lon
    rec["y"] = lat
    raw = rec.view(np.uint8).reshape(len(lon), rec.dtype.itemsize)
    text = np.ascontiguousarray(_HEX[raw]).view(f"S{2 * rec.dtype.itemsize}").ravel()
    arr = pa.array(text, pa.binary()).cast(pa.string())
    null = np.isnan(lon) | np.isnan(lat)
    return pc.if_else(pa.array(null), pa.scalar(None, pa.string()), arr) if null.any() else arr


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
