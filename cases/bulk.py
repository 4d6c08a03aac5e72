"""Bulk assignment: millions of complaints from a file, located and written set-based.

`assign_file(engine, path, crs)` takes a CSV, GeoJSON or GeoParquet file of
complaints (historic data, hotline exports) and, in one database transaction,
turns every good row into a case on the right grid, community, station and
squad. The steps, each vectorised (no Python loop per row, no single-row SQL):

1. read: the file once into memory, its SHA-256 (the file's identity), parsed
   with pyarrow (CSV, Parquet) or pyogrio (GeoJSON) into columns of strings;
2. validate: numpy/pyarrow checks over whole columns; every bad row keeps its
   line number and every reason it is bad; coordinates converted once to WGS84
   (gis.crs.to_wgs84); due times from the catalogue and the working calendar
   (cases.calendar.add_working_hours_many); tracking tokens from os.urandom;
3. copy: the good rows COPY-ed in PostgreSQL's binary format (encoded with
   numpy/pyarrow in chunks as COPY reads them; points as EWKB) into an
   unlogged staging table private to the run (id = line number): no WAL, and
   readable by parallel workers, which a temporary table is not. No index on
   it: locate_table finds grids by lattice cell, not through a point index;
4. locate: gis.locate.locate_table over the staging table's points;
5. insert: ONE `INSERT INTO case_file ... SELECT` joining staging, the located
   points and grid/community/station/squad, whose RETURNING feeds one
   `INSERT INTO case_event ... SELECT` (a data-modifying CTE: one statement).

Outcomes per row: `located` (in a grid), `gap_snapped` (in a sliver gap, given
to the nearest grid within the tolerance), `referred_out` (outside the district:
kept with status referred_out, 转办, the neighbouring district named when
known), `unassigned` (inside the district but far from every grid) and
`no_location` (no coordinates but an address): both kept with status
needs_location for a dispatcher; `invalid`: written to the rejects CSV with its
line number, the reasons and the raw values, and never stopping the good rows.

Line numbers: for CSV the physical line where the record starts (the header is
line 1; quoted values spanning lines and blank lines are counted exactly); for
GeoJSON the feature's number and for Parquet the row's number, from 1. A case's
`external_ref` is `<file name>:<line>`.

The same file (same SHA-256, whatever its name) assigned twice creates nothing
the second time: the first assignment is recorded in `idempotency_record`
(scope `grid-assign`, key = the SHA-256) in the same transaction as its cases,
and a repeat returns the first result with `already_assigned=True`.

Timestamps without a zone offset are read as China Standard Time (+08:00). Due
times (open cases only) run from `reported_at`, by the subclass's time limit in
working hours. Bulk rows are not checked for duplicates against each other or
against open cases (the API does that for one complaint at a time).

Validation beyond the obvious: a three-digit subclass code is read with its
leading zero (spreadsheets drop it: 401 → 0401); a point outside China (the
GCJ-02 box) is refused as a wrong point or wrong --crs, with a hint when
swapping lon and lat would put it in China; 0,0 is refused; a value
over 10,000 characters (an unclosed quote swallowing lines) is refused; so is
text with a NUL character, which PostgreSQL cannot store.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from pyproj import CRS
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from cases.calendar import add_working_hours_many
from cases.catalogue import load_catalogue
from gis import crs as crsmod
from gis.locate import locate_table
from gis.settings import get_settings

__all__ = ["AssignError", "AssignResult", "Progress", "assign_file", "file_sha256"]

Progress = Callable[[str, int, int], None]
"""progress(step, done, total): step is read|validate|copy|locate|insert."""

REQUIRED: Final = ("lon", "lat", "subclass", "reported_at")
OPTIONAL: Final = ("description", "address")
IDEMPOTENCY_SCOPE: Final = "grid-assign"
MAX_DESCRIPTION: Final = 10_000
MAX_ADDRESS: Final = 1_000
MAX_SUBCLASS: Final = 16
EARLIEST: Final = np.datetime64("2000-01-01T00:00:00", "us")
FUTURE_SLACK_US: Final = 5 * 60 * 1_000_000  # clocks of other systems run a little fast
CST_US: Final = 8 * 3600 * 1_000_000  # China Standard Time, +08:00 (no DST since 1991)
SUFFIXES: Final = {
    ".csv": "csv",
    ".txt": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".pq": "parquet",
}

_NUMBER_RE: Final = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_NONFINITE_RE: Final = r"^[+-]?(nan|inf|infinity)$"
_ISO_RE: Final = (
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
    r"(Z|z|[+-]\d{2}(:?\d{2})?)?)?$"
)
_ZONED_RE: Final = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_DATE_ONLY_RE: Final = r"^\d{4}-\d{2}-\d{2}$"

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


class AssignError(Exception):
    """The file as a whole cannot be assigned; the message says why and what to do.

    `usage` is True when the command line was wrong (no such file, unknown
    format) rather than the file's content.
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass
class AssignResult:
    """What an assignment did: counts per outcome, the rejects, timings in seconds."""

    file: str
    sha256: str
    crs: str
    rows: int = 0
    located: int = 0
    gap_snapped: int = 0
    referred_out: int = 0
    unassigned: int = 0
    no_location: int = 0
    invalid: int = 0
    referred_to: dict[str, int] = field(default_factory=dict)
    first_rejects: list[tuple[int, str]] = field(default_factory=list)
    rejects_path: str | None = None
    already_assigned: bool = False
    assigned_at: str = ""
    line_numbers: str = "exact"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def needs_location(self) -> int:
        """Cases kept for a dispatcher to place (inside but in no grid, or no coordinates)."""
        return self.unassigned + self.no_location

    @property
    def cases(self) -> int:
        """Cases written (every row that is not invalid)."""
        return self.located + self.gap_snapped + self.referred_out + self.needs_location

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (what `grid assign --json` prints)."""
        d = asdict(self)
        d["first_rejects"] = [{"line": n, "reason": r} for n, r in self.first_rejects]
        d["needs_location"] = self.needs_location
        d["cases"] = self.cases
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AssignResult:
        """Rebuild from `as_dict` output (the stored record of a first assignment)."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["first_rejects"] = [
            (int(r["line"]), str(r["reason"])) for r in d.get("first_rejects", [])
        ]
        return cls(**kwargs)


# --------------------------------------------------------------------- reading


@dataclass
class _Rows:
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
            f"Expected {', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"
        )


def _empty_strings(n: int) -> pa.Array:
    return pa.array(np.full(n, "", dtype=object), pa.string())


def _as_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
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
class _Scan:
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


def _scan_csv(buf: npt.NDArray[np.uint8], offset: int, breaks: IntArray) -> _Scan:
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
    return _Scan(starts, ends, lines, fields, ends <= starts, term.size != breaks.size)


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


def _read_csv(data: bytes, name: str) -> _Rows:
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
        scan = _scan_csv(buf, offset, breaks)
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
        return _as_text(table.column(name))

    rows = _Rows(
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


def _drop_rows(rows: _Rows, drop: BoolArray, reason: str) -> _Rows:
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
    return _Rows(
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
    )


def _from_points(table: pa.Table, wkb: pa.Array | None, names: list[str], where: str) -> _Rows:
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
        lon_txt, lat_txt = _as_text(table.column("lon")), _as_text(table.column("lat"))
    _require(names, ("subclass", "reported_at"), where)

    def col(name: str) -> pa.Array:
        if name not in table.column_names:
            return _empty_strings(n)
        arr = table.column(name).combine_chunks()
        if name == "reported_at" and pa.types.is_timestamp(arr.type):
            return arr
        if name == "reported_at" and pa.types.is_date(arr.type):
            return pc.cast(pc.cast(arr, pa.timestamp("s")), pa.timestamp("us"))
        return pc.fill_null(_as_text(arr), "") if name in OPTIONAL else _as_text(arr)

    return _Rows(
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
    )


def _read_geojson(path: Path) -> _Rows:
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


def _read_parquet(path: Path) -> _Rows:
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


# ------------------------------------------------------------------ validation


@dataclass
class _Checked:
    """The good rows, ready to COPY, and the rejects."""

    good: pa.Table
    no_location: int
    reject_line: IntArray
    reject_reason: npt.NDArray[np.object_]
    reject_values: dict[str, npt.NDArray[np.object_]]


def _numbers(txt: pa.Array) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
    """Parse a text column: (values, missing, not_finite, not_a_number)."""
    n = len(txt)
    if txt.null_count == 0:
        try:  # fast path: every value is a plain number
            out = np.asarray(
                pc.cast(txt, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
            none = np.zeros(n, dtype=bool)
            return out, none, ~np.isfinite(out), none.copy()
        except pa.ArrowInvalid:
            pass
    t = pc.utf8_trim_whitespace(txt)
    missing = np.asarray(pc.fill_null(pc.equal(t, ""), True), dtype=bool)
    ok = np.asarray(pc.fill_null(pc.match_substring_regex(t, _NUMBER_RE), False), dtype=bool)
    nonfinite = np.asarray(
        pc.fill_null(pc.match_substring_regex(t, _NONFINITE_RE, ignore_case=True), False),
        dtype=bool,
    )
    values = pc.cast(pc.if_else(pa.array(ok), t, pa.scalar(None, pa.string())), pa.float64())
    out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    nonfinite |= ok & ~np.isfinite(out)  # 1e999
    return out, missing, nonfinite, ~ok & ~missing & ~nonfinite


def _timestamps(col: pa.Array) -> tuple[IntArray, BoolArray, BoolArray]:
    """reported_at → UTC microseconds: (values, missing, not ISO 8601)."""
    n = len(col)
    if pa.types.is_timestamp(col.type):
        tz = col.type.tz
        us = pc.cast(col, pa.timestamp("us", tz)) if col.type.unit != "us" else col
        raw = np.asarray(pc.cast(us, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = np.isnan(raw)
        values = np.where(missing, 0, raw).astype(np.int64)
        if tz is None:
            values = values - CST_US
        return values, missing, np.zeros(n, dtype=bool)
    if col.null_count == 0:
        try:  # fast path: every value has its zone offset (…+08:00, …Z)
            us = pc.cast(pc.cast(col, pa.timestamp("us", "UTC")), pa.int64())
            none = np.zeros(n, dtype=bool)
            return np.asarray(us.to_numpy(zero_copy_only=False), dtype=np.int64), none, none.copy()
        except pa.ArrowInvalid:
            pass
    t = pc.utf8_trim_whitespace(col)
    missing = np.asarray(pc.fill_null(pc.equal(t, ""), True), dtype=bool)
    iso = np.asarray(pc.fill_null(pc.match_substring_regex(t, _ISO_RE), False), dtype=bool)
    zoned = iso & np.asarray(
        pc.fill_null(pc.match_substring_regex(t, r"[T ]\d{2}:\d{2}.*" + _ZONED_RE), False),
        dtype=bool,
    )
    naive = iso & ~zoned
    values = np.zeros(n, dtype=np.int64)
    bad = ~iso & ~missing
    for subset, tz in ((zoned, "UTC"), (naive, None)):
        idx = np.flatnonzero(subset)
        if idx.size == 0:
            continue
        part = t.take(pa.array(idx))
        if tz is None:  # "2025-03-01" and "2025-03-01T08:15" are fine for arrow as naive
            part = pc.replace_substring_regex(part, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00")
        parsed, failed = _cast_timestamps(part, tz)
        values[idx] = parsed
        bad[idx[failed]] = True
        if tz is None:
            values[idx] -= CST_US
    return values, missing, bad


def _cast_timestamps(part: pa.Array, tz: str | None) -> tuple[IntArray, BoolArray]:
    """ISO strings → µs; fast arrow cast, falling back to pandas for invalid dates."""
    target = pa.timestamp("us", tz)
    try:
        parsed = pc.cast(part, target)
        raw = np.asarray(pc.cast(parsed, pa.int64()).to_numpy(zero_copy_only=False))
        return raw.astype(np.int64), np.zeros(len(part), dtype=bool)
    except pa.ArrowInvalid:
        import pandas as pd

        s = pd.Series(part.to_numpy(zero_copy_only=False), dtype=object)
        dt = pd.to_datetime(s, format="ISO8601", utc=tz is not None, errors="coerce")
        failed = np.asarray(dt.isna(), dtype=bool)
        ints = dt.dt.tz_convert("UTC").dt.tz_localize(None) if tz is not None else dt
        us = ints.to_numpy(dtype="datetime64[us]")
        out = np.where(failed, 0, us.astype(np.int64))
        return out.astype(np.int64), failed


_B32HEX: Final = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUV", dtype=np.uint8)


def _tokens(n: int) -> pa.Array:
    """n tracking tokens: 120 random bits each, 24 characters of base32hex (0-9, A-V).

    Easy to read out on the phone (one case, no look-alike symbols). They are
    handed out in sorted order along the rows, so the insert into the unique
    index on tokens walks the index in order instead of jumping about; every
    token is still 120 random bits, sorting tells nothing about any other.
    Encoded with numpy: three 40-bit groups of eight 5-bit symbols each.
    """
    raw = np.frombuffer(os.urandom(15 * n), dtype=np.uint8).reshape(n, 3, 5).astype(np.uint64)
    groups = np.zeros((n, 3), dtype=np.uint64)
    for i in range(5):
        groups = (groups << np.uint64(8)) | raw[:, :, i]
    symbols = np.empty((n, 3, 8), dtype=np.uint8)
    for k in range(8):  # 5-bit symbols, most significant first
        symbols[:, :, k] = (groups >> np.uint64(35 - 5 * k)) & np.uint64(31)
    text = _B32HEX[symbols.reshape(n, 24)]
    tokens = np.sort(np.ascontiguousarray(text).view("S24").ravel())
    fixed = pa.Array.from_buffers(pa.binary(24), n, [None, pa.py_buffer(tokens)])
    return pc.cast(pc.cast(fixed, pa.binary()), pa.string())


def _is_geographic(crs: str) -> bool:
    if crs in crsmod.CANONICAL_NAMES:
        return True
    return bool(CRS.from_user_input(crs).is_geographic)


def _validate(rows: _Rows, crs: str, now_us: int) -> _Checked:
    """Every check over whole columns; reasons joined per row."""
    n = rows.n
    checks: list[tuple[BoolArray, str]] = []

    # Coordinates as given.
    if rows.lon_num is not None and rows.lat_num is not None:
        lon_in, lat_in = rows.lon_num, rows.lat_num
        lon_miss = np.isnan(lon_in) & np.asarray(rows.lon_txt.is_null(), dtype=bool)
        lat_miss = lon_miss.copy()
        lon_nonfin = ~lon_miss & ~np.isfinite(lon_in)
        lat_nonfin = ~lat_miss & ~np.isfinite(lat_in)
        lon_nan_txt = lat_nan_txt = np.zeros(n, dtype=bool)
        if rows.bad_geometry is not None:
            lon_miss &= ~rows.bad_geometry
            lat_miss &= ~rows.bad_geometry
            checks.append((rows.bad_geometry, "geometry is not a Point"))
    else:
        lon_in, lon_miss, lon_nonfin, lon_nan_txt = _numbers(rows.lon_txt)
        lat_in, lat_miss, lat_nonfin, lat_nan_txt = _numbers(rows.lat_txt)
    address = pc.utf8_trim_whitespace(pc.fill_null(rows.address, ""))
    has_address = np.asarray(pc.not_equal(address, ""), dtype=bool)
    no_coords = lon_miss & lat_miss
    no_location = no_coords & has_address
    checks += [
        (no_coords & ~has_address, "no location: lon and lat are empty and there is no address"),
        (lon_miss & ~lat_miss, "lon is missing"),
        (lat_miss & ~lon_miss, "lat is missing"),
        (lon_nan_txt, "lon is not a number"),
        (lat_nan_txt, "lat is not a number"),
        (lon_nonfin, "lon is not finite (NaN or infinity)"),
        (lat_nonfin, "lat is not finite (NaN or infinity)"),
    ]
    numeric = np.isfinite(lon_in) & np.isfinite(lat_in)
    geographic = _is_geographic(crs)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if geographic:
        lon_range = numeric & (np.abs(lon_in) > 180)
        lat_range = numeric & (np.abs(lat_in) > 90)
        swapped_hint = lat_range & (np.abs(lat_in) <= 180) & (np.abs(lon_in) <= 90)
        checks += [
            (lon_range, "lon is out of range -180..180"),
            (lat_range & ~swapped_hint, "lat is out of range -90..90"),
            (swapped_hint, "lat is out of range -90..90; lon and lat look swapped (lon first)"),
        ]
        in_range = numeric & ~lon_range & ~lat_range
    else:
        in_range = numeric
    zero = in_range & (lon_in == 0) & (lat_in == 0)
    checks.append((zero, "0,0 is not a location (coordinates missing at the source?)"))
    convert = in_range & ~zero
    if convert.any():
        cx, cy = crsmod.to_wgs84(lon_in[convert], lat_in[convert], crs)
        x[convert], y[convert] = cx, cy
    conv_ok = convert & np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
    checks.append((convert & ~conv_ok, f"the position cannot be converted from {crs} to WGS84"))
    in_china = conv_ok & crsmod.in_china(x, y)
    far = conv_ok & ~in_china
    swapped = (
        far & np.asarray(crsmod.in_china(lat_in, lon_in), dtype=bool)
        if geographic
        else np.zeros(n, dtype=bool)
    )
    checks += [
        (swapped, "outside China, but in China with lon and lat swapped (lon comes first)"),
        (far & ~swapped, "far outside the district and China: wrong coordinates or wrong --crs"),
    ]

    # Subclass.
    catalogue = load_catalogue()
    codes = [s.code for s in catalogue.subclasses]
    sub = pc.utf8_trim_whitespace(pc.fill_null(rows.subclass, ""))
    three = pc.match_substring_regex(sub, r"^\d{3}$")  # "101": Excel dropped the leading 0
    sub = pc.if_else(three, pc.binary_join_element_wise("0", sub, ""), sub)
    index = np.asarray(
        pc.fill_null(pc.index_in(sub, value_set=pa.array(codes)), -1).to_numpy(), dtype=np.int64
    )
    sub_missing = np.asarray(pc.equal(sub, ""), dtype=bool)
    checks += [
        (sub_missing, "subclass is missing"),
        ((index < 0) & ~sub_missing, "unknown subclass (not in data/catalogue.toml)"),
    ]

    # Reported time.
    ts, ts_missing, ts_bad = _timestamps(rows.reported_at)
    ts_ok = ~ts_missing & ~ts_bad
    checks += [
        (ts_missing, "reported_at is missing"),
        (ts_bad, "reported_at is not an ISO 8601 date-time (e.g. 2025-03-01T08:15:00+08:00)"),
        (ts_ok & (ts > now_us + FUTURE_SLACK_US), "reported_at is in the future"),
        (ts_ok & (ts < EARLIEST.astype(np.int64)), "reported_at is before 2000-01-01"),
    ]

    # Text.
    desc = pc.fill_null(rows.description, "")
    for name, arr, limit in (
        ("description", desc, MAX_DESCRIPTION),
        ("address", address, MAX_ADDRESS),
    ):
        checks.append(
            (
                np.asarray(pc.greater(pc.utf8_length(arr), limit), dtype=bool),
                f"{name} is longer than {limit} characters (an unclosed quote?)",
            )
        )
    nul = np.zeros(n, dtype=bool)
    for arr in (desc, address, sub):
        nul |= np.asarray(pc.match_substring(arr, "\x00"), dtype=bool)
    checks.append((nul, "contains a NUL character"))

    bad = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    bad_idx = np.flatnonzero(bad)
    reasons = np.full(len(bad_idx), "", dtype=object)
    for mask, text in checks:
        sel = mask[bad_idx]
        if sel.any():
            sep = np.where(reasons[sel] == "", "", "; ").astype(object)
            reasons[sel] = reasons[sel] + sep + text
    take = pa.array(bad_idx)

    def raw(a: pa.Array) -> npt.NDArray[np.object_]:
        return np.asarray(
            pc.fill_null(_as_text(a).take(take), "").to_numpy(zero_copy_only=False), dtype=object
        )

    reject_values = {
        "lon": raw(rows.lon_txt),
        "lat": raw(rows.lat_txt),
        "subclass": raw(rows.subclass),
        "reported_at": raw(rows.reported_at),
        "description": raw(rows.description),
        "address": raw(rows.address),
        "raw": np.full(len(bad_idx), "", dtype=object),
    }

    # The good rows: due time, tier and token per row.
    good = ~bad
    gi = np.flatnonzero(good)
    gsel = pa.array(gi)
    hours = np.array([s.time_limit_hours for s in catalogue.subclasses], dtype=np.float64)
    tiers = np.array([s.tier for s in catalogue.subclasses], dtype=object)
    starts = ts[gi].astype("datetime64[us]")
    due = add_working_hours_many(starts, hours[index[gi]])
    located_in = ~no_location[gi]
    lon_keep = np.where(located_in, lon_in[gi], np.nan)
    lat_keep = np.where(located_in, lat_in[gi], np.nan)
    table = pa.table(
        {
            "id": pa.array(rows.line[gi], pa.int64()),
            "lon_in": pa.array(lon_keep, mask=np.isnan(lon_keep)),
            "lat_in": pa.array(lat_keep, mask=np.isnan(lat_keep)),
            "lon": pa.array(x[gi], mask=~located_in | np.isnan(x[gi])),
            "lat": pa.array(y[gi], mask=~located_in | np.isnan(y[gi])),
            "subclass": sub.take(gsel),
            "tier": pa.array(tiers[index[gi]], pa.string()),
            "reported_at": pa.array(starts, pa.timestamp("us", "UTC")),
            "due_at": pa.array(due, pa.timestamp("us", "UTC")),
            "description": desc.take(gsel),
            "address": address.take(gsel),
            "token": _tokens(len(gi)),
        }
    )

    # Read-time rejects join the others, in line order.
    if rows.pre_line:
        pre = len(rows.pre_line)
        line = np.concatenate([rows.line[bad_idx], np.array(rows.pre_line, dtype=np.int64)])
        reasons = np.concatenate([reasons, np.array(rows.pre_reason, dtype=object)])
        for k in reject_values:
            extra = (
                np.array(rows.pre_raw, dtype=object)
                if k == "raw"
                else np.full(pre, "", dtype=object)
            )
            reject_values[k] = np.concatenate([reject_values[k], extra])
    else:
        line = rows.line[bad_idx]
    order = np.argsort(line, kind="stable")
    return _Checked(
        good=table,
        no_location=int(no_location[gi].sum()),
        reject_line=line[order],
        reject_reason=reasons[order],
        reject_values={k: v[order] for k, v in reject_values.items()},
    )


def _write_rejects(path: Path, checked: _Checked) -> None:
    table = pa.table(
        {
            "line": pa.array(checked.reject_line, pa.int64()),
            "reason": pa.array(checked.reject_reason, pa.string()),
            **{k: pa.array(v, pa.string()) for k, v in checked.reject_values.items()},
        }
    )
    try:
        with path.open("wb") as f:
            f.write(b"\xef\xbb\xbf")  # so that Excel reads the Chinese text as UTF-8
            pacsv.write_csv(table, f, pacsv.WriteOptions(quoting_style="needed"))
    except OSError as exc:
        raise AssignError(
            f"cannot write the rejects file {path}: {exc.strerror}; "
            "give another place with --rejects"
        ) from exc


# -------------------------------------------------------------------- database


class _CopyReader(io.RawIOBase):
    """A file-like view of a stream of byte chunks for COPY, reporting progress."""

    def __init__(self, chunks: Iterator[tuple[bytes, int]], report: Callable[[int], None]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._report = report

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while size is None or size < 0 or len(self._buf) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            chunk, rows_done = nxt
            self._buf += chunk
            self._report(rows_done)
        if size is None or size < 0:
            size = len(self._buf)
        out, self._buf = self._buf[:size], self._buf[size:]
        return out


# PostgreSQL's binary COPY: a signature, then per row a 16-bit field count and
# per field a 32-bit length (-1 = NULL) and the value in the type's binary form.
_PGCOPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_PGCOPY_TRAILER: Final = b"\xff\xff"
_PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
_NULL_FIELD: Final = b"\xff\xff\xff\xff"
_STAGE_COLUMNS: Final = (
    "id",
    "lon_in",
    "lat_in",
    "geom",
    "subclass",
    "tier",
    "reported_at",
    "due_at",
    "description",
    "address",
    "token",
)
COPY_CHUNK_ROWS: Final = 200_000


def _fixed_width(rec: npt.NDArray[Any]) -> pa.Array:
    """A numpy array of fixed-size records as a large_binary array of their bytes."""
    size = rec.dtype.itemsize
    arr = pa.Array.from_buffers(pa.binary(size), len(rec), [None, pa.py_buffer(rec)])
    return pc.cast(pc.cast(arr, pa.binary()), pa.large_binary())


def _null_where(arr: pa.Array, null: BoolArray) -> pa.Array:
    if not null.any():
        return arr
    return pc.if_else(pa.array(null), pa.scalar(_NULL_FIELD, pa.large_binary()), arr)


def _enc_number(values: npt.NDArray[Any], kind: str) -> pa.Array:
    """bigint ('>i8') or float8 ('>f8') fields; a float NaN is NULL."""
    rec = np.empty(len(values), dtype=[("len", ">i4"), ("v", kind)])
    rec["len"] = 8
    rec["v"] = values
    null = np.isnan(values) if kind == ">f8" else np.zeros(len(values), dtype=bool)
    return _null_where(_fixed_width(rec), null)


def _enc_timestamp(col: pa.Array) -> pa.Array:
    """timestamptz fields: microseconds since 2000-01-01 UTC."""
    us = np.asarray(pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    null = np.isnan(us)
    rec = np.empty(len(us), dtype=[("len", ">i4"), ("v", ">i8")])
    rec["len"] = 8
    rec["v"] = np.where(null, 0, us).astype(np.int64) - _PG_EPOCH_US
    return _null_where(_fixed_width(rec), null)


def _enc_point(lon: FloatArray, lat: FloatArray) -> pa.Array:
    """geometry fields as EWKB points with SRID 4326; NaN is NULL."""
    rec = np.empty(
        len(lon),
        dtype=[
            ("len", ">i4"),
            ("order", "u1"),
            ("type", "<u4"),
            ("srid", "<u4"),
            ("x", "<f8"),
            ("y", "<f8"),
        ],
    )
    rec["len"] = 25
    rec["order"] = 1  # little-endian
    rec["type"] = 0x20000001  # Point, with SRID
    rec["srid"] = 4326
    rec["x"] = lon
    rec["y"] = lat
    return _null_where(_fixed_width(rec), np.isnan(lon) | np.isnan(lat))


def _enc_text(col: pa.Array) -> pa.Array:
    """text fields: the UTF-8 bytes behind their length."""
    data = pc.cast(pc.fill_null(col, ""), pa.large_binary())
    lengths = np.asarray(pc.binary_length(data).to_numpy(zero_copy_only=False), dtype=">i4")
    prefix = _fixed_width(lengths)
    return pc.binary_join_element_wise(prefix, data, pa.scalar(b"", pa.large_binary()))


def _binary_rows(table: pa.Table) -> bytes:
    """The rows of a staging slice in COPY BINARY form (without header and trailer)."""

    def num(name: str) -> FloatArray:
        return np.asarray(table.column(name).to_numpy(), dtype=np.float64)

    def text(name: str) -> pa.Array:
        return _enc_text(table.column(name).combine_chunks())

    count = np.full(table.num_rows, len(_STAGE_COLUMNS), dtype=">i2")
    fields = [
        _fixed_width(count),
        _enc_number(np.asarray(table.column("id").to_numpy(), dtype=np.int64), ">i8"),
        _enc_number(num("lon_in"), ">f8"),
        _enc_number(num("lat_in"), ">f8"),
        _enc_point(num("lon"), num("lat")),
        text("subclass"),
        text("tier"),
        _enc_timestamp(table.column("reported_at").combine_chunks()),
        _enc_timestamp(table.column("due_at").combine_chunks()),
        text("description"),
        text("address"),
        text("token"),
    ]
    rows = pc.binary_join_element_wise(*fields, pa.scalar(b"", pa.large_binary()))
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)
    start, end = int(offsets[rows.offset]), int(offsets[rows.offset + len(rows)])
    return rows.buffers()[2].to_pybytes()[start:end]


@contextmanager
def _bulk_connection(engine: Engine) -> Iterator[Connection]:
    """A fresh connection (not from the pool) with room for big temporary tables.

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


_STAGE_DDL: Final = """
CREATE UNLOGGED TABLE {stage} (
    id bigint NOT NULL, lon_in float8, lat_in float8, geom geometry(Point, 4326),
    subclass text NOT NULL, tier text NOT NULL,
    reported_at timestamptz NOT NULL, due_at timestamptz,
    description text NOT NULL, address text NOT NULL, token text NOT NULL
) WITH (autovacuum_enabled = off)"""

_INSERT: Final = """
WITH gen AS (SELECT id FROM layout_generation WHERE is_current),
home AS (SELECT d.code FROM district d, gen WHERE d.generation_id = gen.id AND d.is_home),
ins AS (
    INSERT INTO case_file (
        token, status, subclass_code, tier, description, address, photos, source,
        lon_in, lat_in, crs_in, geom, locate_method, locate_distance_m, grid_cell_id,
        grid_code, community_code, subdistrict_code, station_code, squad_code, district_code,
        reported_at, due_at, status_note, external_ref)
    SELECT s.token,
           CASE WHEN l.method IN ('contained', 'snapped') THEN 'open'
                WHEN l.method = 'outside' THEN 'referred_out'
                ELSE 'needs_location' END,
           s.subclass, s.tier, s.description, s.address, '[]'::jsonb, :source,
           s.lon_in, s.lat_in, :crs, s.geom, coalesce(l.method, 'none'), l.distance_m,
           l.grid_cell_id, g.code, g.community_code, c.subdistrict_code, st.code,
           sc.squad_code,
           CASE WHEN l.method IS NULL THEN (SELECT code FROM home) ELSE l.district_code END,
           s.reported_at,
           CASE WHEN l.method IN ('contained', 'snapped') THEN s.due_at END,
           CASE WHEN l.method = 'outside' AND nd.name IS NOT NULL THEN
                    '转办：该位置不在本区，属' || nd.name || '，待指挥中心转交该区处理'
                WHEN l.method = 'outside' THEN '转办：该位置不在本区及相邻区，待指挥中心核实转交'
                WHEN l.method = 'unassigned' THEN '位于辖区内但不在任何网格内，待调度员定位'
                WHEN l.method IS NULL THEN '无坐标，待调度员按地址定位'
                ELSE '' END,
           :ref || s.id
    FROM {stage} s
    LEFT JOIN bulk_loc l ON l.point_id = s.id
    LEFT JOIN grid_cell g ON g.id = l.grid_cell_id
    LEFT JOIN community c ON c.generation_id = g.generation_id AND c.code = g.community_code
    LEFT JOIN station st ON st.community_code = g.community_code
    LEFT JOIN squad_community sc ON sc.community_code = g.community_code
    LEFT JOIN district nd ON l.method = 'outside' AND nd.code = l.district_code
                         AND nd.generation_id = (SELECT id FROM gen)
    -- In time order the reported_at indexes grow at their ends, not all over.
    ORDER BY s.reported_at
    RETURNING id
)
INSERT INTO case_event (case_id, kind, actor, data)
SELECT id, 'created', :actor, CAST(:data AS jsonb) FROM ins"""


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


def _copy(conn: Connection, stage: str, table: pa.Table, progress: Progress | None) -> None:
    """COPY the staging rows in binary form, encoded chunk by chunk as COPY reads."""
    total = table.num_rows

    def chunks() -> Iterator[tuple[bytes, int]]:
        yield _PGCOPY_HEADER, 0
        for start in range(0, total, COPY_CHUNK_ROWS):
            part = table.slice(start, COPY_CHUNK_ROWS)
            yield _binary_rows(part), start + part.num_rows
        yield _PGCOPY_TRAILER, total

    def report(done: int) -> None:
        if progress is not None:
            progress("copy", done, total)

    cols = ", ".join(_STAGE_COLUMNS)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.copy_expert(
            f"COPY {stage} ({cols}) FROM STDIN WITH (FORMAT binary)",
            _CopyReader(chunks(), report),
            size=1 << 20,
        )


class _AlreadyAssigned(Exception):
    """The claim found the file assigned (by a concurrent run that committed first)."""


def _write_cases(
    engine: Engine,
    good: pa.Table,
    result: AssignResult,
    timings: dict[str, float],
    progress: Progress | None,
    source: str,
    settings: Any,
) -> None:
    """Stage, locate and insert in one transaction; fills counts and timings."""

    def step(name: str, done: int = 0, total: int = 1) -> None:
        if progress is not None:
            progress(name, done, total)

    with _bulk_connection(engine) as conn, conn.begin():
        if not _claim(conn, result.sha256):
            raise _AlreadyAssigned
        t0 = time.perf_counter()
        step("copy")
        # An unlogged table (no WAL; parallel workers can read it, unlike a
        # temporary one), private to this run by its name, dropped before commit.
        stage = f"bulk_stage_{secrets.token_hex(6)}"
        conn.exec_driver_sql(_STAGE_DDL.format(stage=stage))
        if good.num_rows:
            _copy(conn, stage, good, progress)
        conn.exec_driver_sql(f"ANALYZE {stage}")
        timings["copy"] = time.perf_counter() - t0
        step("copy", 1, 1)

        t0 = time.perf_counter()
        step("locate")
        conn.exec_driver_sql(
            f"CREATE TEMP VIEW bulk_pts AS SELECT id, geom FROM {stage} WHERE geom IS NOT NULL"
        )
        counts = locate_table(conn, "bulk_pts", "bulk_loc", settings=settings)
        conn.exec_driver_sql("DROP VIEW bulk_pts")
        conn.exec_driver_sql("ANALYZE bulk_loc")
        result.located = counts.get("contained", 0)
        result.gap_snapped = counts.get("snapped", 0)
        result.unassigned = counts.get("unassigned", 0)
        result.referred_out = counts.get("outside", 0)
        result.referred_to = {
            str(name or "(no loaded district)"): int(k)
            for name, k in conn.execute(
                sa.text("""
                SELECT d.name, count(*) FROM bulk_loc l
                LEFT JOIN district d ON d.code = l.district_code
                 AND d.generation_id = (SELECT id FROM layout_generation WHERE is_current)
                WHERE l.method = 'outside' GROUP BY d.name ORDER BY 2 DESC""")
            )
        }
        timings["locate"] = time.perf_counter() - t0
        step("locate", 1, 1)

        t0 = time.perf_counter()
        step("insert")
        event = {
            "via": "grid assign",
            "source": source,
            "file": result.file,
            "sha256": result.sha256,
            "crs": result.crs,
        }
        conn.execute(
            sa.text(_INSERT.format(stage=stage)),
            {
                "source": source,
                "crs": result.crs[:16],
                "ref": f"{result.file}:",
                "actor": "grid assign",
                "data": json.dumps(event, ensure_ascii=False),
            },
        )
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
        conn.exec_driver_sql(f"DROP TABLE {stage}")
    timings["insert"] = time.perf_counter() - t0


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
) -> AssignResult:
    """Assign every complaint of a CSV/GeoJSON/GeoParquet file; see the module docs.

    Raises AssignError (file-level problems: missing, unreadable, no header,
    missing columns), UnknownCRSError (bad `crs`) and database errors; a bad
    row never raises. `rejects` is where the rejects CSV goes (default
    `<file>.rejects.csv` beside the input), written only when there are some.
    """
    settings = get_settings()
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
    if kind == "csv":
        rows = _read_csv(data, path.name)
    elif kind == "geojson":
        rows = _read_geojson(path)
    else:
        rows = _read_parquet(path)
    del data
    timings["read"] = time.perf_counter() - t0
    step("read", 1, 1)

    t0 = time.perf_counter()
    step("validate")
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    checked = _validate(rows, crs_name, now_us)
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
        _write_rejects(target, checked)
        result.rejects_path = str(target)
    timings["validate"] = time.perf_counter() - t0
    step("validate", 1, 1)

    try:
        _write_cases(engine, checked.good, result, timings, progress, source, settings)
    except _AlreadyAssigned:
        with engine.connect() as conn:
            again = _prior(conn, sha)
        if again is None:  # pragma: no cover - the claim saw it, so it is there
            raise AssignError("the file was being assigned concurrently; try again") from None
        return again
    step("insert", 1, 1)
    timings["total"] = time.perf_counter() - t_all
    result.timings = {k: round(v, 3) for k, v in timings.items()}
    return result
