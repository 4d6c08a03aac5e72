"""Reading a file of complaints into columns: CSV, GeoJSON, GeoParquet.

The file is read once into memory and parsed with pyarrow (CSV, Parquet) or
pyogrio (GeoJSON) into columns of strings, every row keeping the number of
the line (CSV: the physical line where its record starts, the header being
line 1; quoted values spanning lines and blank lines are counted exactly),
feature or row it came from. Rows that cannot even be read (wrong field
count, bad UTF-8, a geometry that is no point) are kept aside with their
reason, as rejects.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cases.bulk.result import (
    HISTORY,
    OPTIONAL,
    REQUIRED,
    AssignError,
    BoolArray,
    FloatArray,
    IntArray,
)


@dataclass
class Rows:
    """The file's rows as columns; every column has one entry per row."""

    line: IntArray
    lon_txt: pa.Array  # as written (string); for geometry input the number as text
    lat_txt: pa.Array
    lon_num: FloatArray | None  # numbers already (geometry input), else parsed from text
    lat_num: FloatArray | None
    subclass: pa.Array
    reported_at: pa.Array  # string, or timestamp when the file is typed (Parquet)
    description: pa.Array
    address: pa.Array
    # Rows rejected while reading (wrong field count, bad UTF-8, bad geometry).
    pre_line: list[int] = field(default_factory=list)
    pre_reason: list[str] = field(default_factory=list)
    pre_raw: list[str] = field(default_factory=list)
    line_numbers: str = "exact"
    bad_geometry: BoolArray | None = None  # GeoJSON/GeoParquet rows whose geometry is no Point
    history: dict[str, pa.Array] = field(default_factory=dict)  # the HISTORY columns present

    @property
    def n(self) -> int:
        return len(self.line)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (the identity that makes assignment idempotent)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _normalise_names(names: list[str]) -> list[str]:
    out = [n.strip().lstrip("\ufeff").strip().lower() for n in names]
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise AssignError(f"columns named more than once: {', '.join(dupes)}")
    return out


def _require(names: list[str], needed: tuple[str, ...], where: str) -> None:
    missing = [c for c in needed if c not in names]
    if missing:
        shown = ", ".join(n for n in names if n) or "(none)"
        raise AssignError(
            f"{where}: missing column(s) {', '.join(missing)}; found: {shown}. "
            f"Expected {', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL + HISTORY)}"
        )


def _empty_strings(n: int) -> pa.Array:
    return pa.array(np.full(n, "", dtype=object), pa.string())


def as_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Any column as a string array (numbers as text, nulls kept)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        return pc.cast(arr, pa.string())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return pc.cast(arr, pa.string())  # raises on invalid UTF-8: caller handles
    return pc.cast(arr, pa.string())


@dataclass
class Scan:
    """Where the CSV's records are: byte spans, starting lines, field counts."""

    starts: IntArray
    ends: IntArray
    lines: IntArray
    fields: IntArray
    empty: BoolArray
    multiline: bool


def _line_spans(
    buf: npt.NDArray[np.uint8], offset: int, breaks: IntArray
) -> tuple[IntArray, IntArray]:
    """Start and end (exclusive, before a carriage return) of the pieces between `breaks`."""
    n = len(buf)
    starts = np.concatenate(([offset], breaks + 1)).astype(np.int64)
    ends = np.concatenate((breaks, [n])).astype(np.int64)
    if starts[-1] >= n:  # the file ends with a line break: nothing after it
        starts, ends = starts[:-1], ends[:-1]
    nz = ends > starts
    cr = np.zeros(len(ends), dtype=bool)
    cr[nz] = buf[ends[nz] - 1] == 13
    return starts, ends - cr


def scan_csv(buf: npt.NDArray[np.uint8], offset: int, breaks: IntArray) -> Scan:
    """Split a CSV into records by quote parity, vectorised (RFC 4180 quoting).

    A line break ends a record when an even number of quote characters came
    before it; a comma separates fields likewise. This gives what pyarrow does
    not: the line each record starts on, and which records have the wrong
    number of fields (pyarrow skips those). Used when the fast path (one
    record per line) does not hold.
    """
    quotes = np.flatnonzero(buf == 34)
    commas = np.flatnonzero(buf == 44)
    if quotes.size:
        term = breaks[(np.searchsorted(quotes, breaks) % 2) == 0]
        commas = commas[(np.searchsorted(quotes, commas) % 2) == 0]
    else:
        term = breaks
    starts, ends = _line_spans(buf, offset, term)
    lines = np.searchsorted(breaks, starts).astype(np.int64) + 1
    fields = (np.searchsorted(commas, ends) - np.searchsorted(commas, starts)).astype(np.int64) + 1
    return Scan(starts, ends, lines, fields, ends <= starts, term.size != breaks.size)


def _parse_csv(
    data: bytes, raw_names: list[str], multiline: bool, skipped: list[int]
) -> tuple[pa.Table, BoolArray | None]:
    """pyarrow's parse, every column as text; rows with the wrong field count skipped."""

    def on_invalid(row: Any) -> str:
        skipped.append(row.actual_columns)
        return "skip"

    read_opts = pacsv.ReadOptions(use_threads=True, block_size=16 << 20)
    parse_opts = pacsv.ParseOptions(newlines_in_values=multiline, invalid_row_handler=on_invalid)

    def convert(kind: pa.DataType) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(
            column_types={n: kind for n in raw_names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    try:
        return pacsv.read_csv(
            pa.py_buffer(data),
            read_options=read_opts,
            parse_options=parse_opts,
            convert_options=convert(pa.string()),
        ), None
    except pa.ArrowInvalid as exc:
        if "utf8" not in str(exc).lower():
            raise AssignError(f"the file cannot be read as CSV: {exc}") from exc
    skipped.clear()
    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=read_opts,
        parse_options=parse_opts,
        convert_options=convert(pa.binary()),
    )
    return _decode_utf8(table)


def read_csv(data: bytes, name: str) -> Rows:
    """The rows of a CSV file's bytes (`name` for messages), with exact line numbers."""
    offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    buf = np.frombuffer(data, dtype=np.uint8)
    n_cr = data.count(b"\r")
    lone_cr = n_cr > 0 and n_cr != data.count(b"\r\n")
    if lone_cr:  # old Mac line ends: a lone \r breaks a line too (pyarrow agrees)
        nxt = np.zeros(len(buf), dtype=bool)
        nxt[:-1] = buf[1:] == 10
        breaks = np.flatnonzero((buf == 10) | ((buf == 13) & ~nxt)).astype(np.int64)
    else:
        breaks = np.flatnonzero(buf == 10).astype(np.int64)
    starts, ends = _line_spans(buf, offset, breaks)
    nonempty = np.flatnonzero(ends > starts)
    if nonempty.size == 0:
        raise AssignError(
            f"{name} is empty: a header line lon,lat,subclass,reported_at "
            "and one row per complaint are expected"
        )
    h = int(nonempty[0])
    try:
        header_text = data[starts[h] : ends[h]].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssignError(
            "the header line is not UTF-8: save the file as UTF-8 (e.g. iconv -f GB18030 -t UTF-8)"
        ) from exc
    raw_names = next(csv.reader([header_text]))
    names = _normalise_names(raw_names)
    _require(names, REQUIRED, f"{name}, header line")
    ncols = len(raw_names)

    # Fast path: one record per non-empty line, none skipped.
    skipped: list[int] = []
    table, utf8_bad = _parse_csv(data, raw_names, False, skipped)
    pre_line: list[int] = []
    pre_reason: list[str] = []
    pre_raw: list[str] = []
    line_numbers = "exact"
    data_lines = nonempty[1:]
    if not skipped and table.num_rows == len(data_lines):
        lines = data_lines.astype(np.int64) + 1
    else:
        # Exact path: records by quote parity (values over several lines, bad rows).
        scan = scan_csv(buf, offset, breaks)
        if scan.multiline:
            skipped.clear()
            table, utf8_bad = _parse_csv(data, raw_names, True, skipped)
        rec = np.flatnonzero(~scan.empty)[1:]
        bad_count = scan.fields[rec] != ncols
        for i in rec[bad_count]:
            pre_line.append(int(scan.lines[i]))
            pre_reason.append(f"expected {ncols} fields, found {int(scan.fields[i])}")
            pre_raw.append(data[scan.starts[i] : scan.ends[i]].decode("utf-8", "replace")[:2000])
        good_rec = rec[~bad_count]
        if table.num_rows == len(good_rec) and len(skipped) == len(pre_line):
            lines = scan.lines[good_rec]
        else:  # quoting pyarrow reads otherwise (a quote inside an unquoted value)
            line_numbers = "record numbers (header = 1): irregular quoting in this file"
            lines = np.arange(2, table.num_rows + 2, dtype=np.int64)
            pre_line, pre_reason, pre_raw = [], [], []
            for k in skipped:
                pre_line.append(0)
                pre_reason.append(f"expected {ncols} fields, found {k} (line not known)")
                pre_raw.append("")
    table = table.rename_columns(names)
    n = table.num_rows

    def col(name: str) -> pa.Array:
        if name not in table.column_names:
            return _empty_strings(n)
        return as_text(table.column(name))

    rows = Rows(
        line=lines,
        lon_txt=col("lon"),
        lat_txt=col("lat"),
        lon_num=None,
        lat_num=None,
        subclass=col("subclass"),
        reported_at=col("reported_at"),
        description=col("description"),
        address=col("address"),
        pre_line=pre_line,
        pre_reason=pre_reason,
        pre_raw=pre_raw,
        line_numbers=line_numbers,
        history={k: col(k) for k in HISTORY if k in table.column_names},
    )
    if utf8_bad is not None and utf8_bad.any():
        if utf8_bad.mean() > 0.5:
            raise AssignError(
                "most rows are not valid UTF-8: the file is probably GBK/GB18030; "
                "convert it first, e.g. iconv -f GB18030 -t UTF-8 in.csv > out.csv"
            )
        rows = _drop_rows(rows, utf8_bad, "not valid UTF-8 text")
    return rows


def _decode_utf8(table: pa.Table) -> tuple[pa.Table, BoolArray]:
    """Binary columns to strings; rows with invalid UTF-8 anywhere are flagged (and blanked)."""
    bad = np.zeros(table.num_rows, dtype=bool)
    cols = []
    for c in table.columns:
        values = c.combine_chunks().to_pylist()
        ok = np.ones(len(values), dtype=bool)
        for i, v in enumerate(values):
            if v is not None:
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError:
                    ok[i] = False
        bad |= ~ok
        cols.append(
            pc.cast(pc.if_else(pa.array(ok), c.combine_chunks(), pa.scalar(b"")), pa.string())
        )
    return pa.table(cols, names=table.column_names), bad


def _drop_rows(rows: Rows, drop: BoolArray, reason: str) -> Rows:
    """Move the rows in `drop` to the read-time rejects with `reason`."""
    keep = pa.array(~drop)
    idx = np.flatnonzero(drop)
    for i in idx:
        rows.pre_line.append(int(rows.line[i]))
        rows.pre_reason.append(reason)
        rows.pre_raw.append(
            ",".join(
                str(a[int(i)].as_py() or "")
                for a in (rows.lon_txt, rows.lat_txt, rows.subclass, rows.reported_at, rows.address)
            )[:2000]
        )
    return Rows(
        line=rows.line[~drop],
        lon_txt=rows.lon_txt.filter(keep),
        lat_txt=rows.lat_txt.filter(keep),
        lon_num=None if rows.lon_num is None else rows.lon_num[~drop],
        lat_num=None if rows.lat_num is None else rows.lat_num[~drop],
        subclass=rows.subclass.filter(keep),
        reported_at=rows.reported_at.filter(keep),
        description=rows.description.filter(keep),
        address=rows.address.filter(keep),
        pre_line=rows.pre_line,
        pre_reason=rows.pre_reason,
        pre_raw=rows.pre_raw,
        line_numbers=rows.line_numbers,
        history={k: v.filter(keep) for k, v in rows.history.items()},
    )


def _from_points(table: pa.Table, wkb: pa.Array | None, names: list[str], where: str) -> Rows:
    """Rows of a GeoJSON/GeoParquet table: coordinates from point geometry (or lon/lat)."""
    import shapely

    n = table.num_rows
    table = table.rename_columns(names)
    lines = np.arange(1, n + 1, dtype=np.int64)
    not_point = np.zeros(n, dtype=bool)
    lon_num: FloatArray | None = None
    lat_num: FloatArray | None = None
    if wkb is not None:
        geoms = shapely.from_wkb(
            np.asarray(wkb.to_numpy(zero_copy_only=False), dtype=object), on_invalid="ignore"
        )
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        type_id = shapely.get_type_id(geoms)
        not_point = ~missing & (type_id != 0)
        xy = np.full((n, 2), np.nan)
        pts = ~missing & ~not_point
        if pts.any():
            xy[pts] = shapely.get_coordinates(geoms[pts])[:, :2]
        lon_num, lat_num = xy[:, 0], xy[:, 1]
        lon_txt = pc.cast(pa.array(lon_num, mask=~pts), pa.string())
        lat_txt = pc.cast(pa.array(lat_num, mask=~pts), pa.string())
    else:
        _require(names, ("lon", "lat"), where)
        lon_txt, lat_txt = as_text(table.column("lon")), as_text(table.column("lat"))
    _require(names, ("subclass", "reported_at"), where)

    def col(name: str) -> pa.Array:
        if name not in table.column_names:
            return _empty_strings(n)
        arr = table.column(name).combine_chunks()
        timed = name.endswith("_at")  # reported_at, dispatched_at, closed_at
        if timed and pa.types.is_timestamp(arr.type):
            return arr
        if timed and pa.types.is_date(arr.type):
            return pc.cast(pc.cast(arr, pa.timestamp("s")), pa.timestamp("us"))
        return pc.fill_null(as_text(arr), "") if name in OPTIONAL else as_text(arr)

    return Rows(
        line=lines,
        lon_txt=lon_txt,
        lat_txt=lat_txt,
        lon_num=lon_num,
        lat_num=lat_num,
        subclass=col("subclass"),
        reported_at=col("reported_at"),
        description=col("description"),
        address=col("address"),
        bad_geometry=not_point,
        history={k: col(k) for k in HISTORY if k in table.column_names},
    )


def read_geojson(path: Path) -> Rows:
    """The features of a GeoJSON file as rows (point geometry, or lon/lat properties)."""
    import pyogrio

    try:
        meta, table = pyogrio.read_arrow(path, datetime_as_string=True)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise AssignError(f"{path.name}: cannot be read as GeoJSON: {exc}") from exc
    geom_name = meta.get("geometry_name") or "wkb_geometry"
    wkb = None
    if geom_name in table.column_names:
        wkb = table.column(geom_name).combine_chunks()
        table = table.drop_columns([geom_name])
    names = _normalise_names(table.column_names)
    rows = _from_points(table, wkb, names, f"{path.name} (feature properties)")
    rows.line_numbers = "feature numbers"
    return rows


def read_parquet(path: Path) -> Rows:
    """The rows of a (Geo)Parquet file (WKB point geometry, or lon/lat columns)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise AssignError(f"{path.name}: cannot be read as Parquet: {exc}") from exc
    geo = (table.schema.metadata or {}).get(b"geo")
    wkb = None
    if geo is not None:
        try:
            meta = json.loads(geo)
            geom_name = meta["primary_column"]
            encoding = str(meta["columns"][geom_name].get("encoding", "WKB")).upper()
        except (ValueError, KeyError, TypeError) as exc:
            raise AssignError(f"{path.name}: invalid GeoParquet 'geo' metadata: {exc}") from exc
        if encoding != "WKB":
            raise AssignError(
                f"{path.name}: geometry encoding {encoding} is not supported; "
                "write the geometry as WKB (geopandas.to_parquet does)"
            )
        wkb = table.column(geom_name).combine_chunks()
        table = table.drop_columns([geom_name])
    names = _normalise_names(table.column_names)
    rows = _from_points(table, wkb, names, path.name)
    rows.line_numbers = "row numbers"
    return rows
