"""Validation over whole columns: every bad row keeps its line and every reason.

Coordinates are parsed and converted once to WGS84 (gis.crs.to_wgs84); a
three-digit subclass code is read with its leading zero (spreadsheets drop
it: 401 → 0401); a point outside China (the GCJ-02 box) is refused as a
wrong point or wrong --crs, with a hint when swapping lon and lat would put
it in China; 0,0 is refused; a value over 10,000 characters (an unclosed
quote swallowing lines) is refused; so is text with a NUL character, which
PostgreSQL cannot store. Times without a zone offset are local times of the
calendar's zone. The optional history columns (status, dispatched_at,
closed_at, rating) are checked by cases.bulk.history. No Python loop runs
over the rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pyproj import CRS

from cases.bulk.history import check_history
from cases.bulk.parse import numbers, timestamps
from cases.bulk.read import Rows, as_text
from cases.bulk.result import (
    EARLIEST,
    FUTURE_SLACK_US,
    MAX_ADDRESS,
    MAX_DESCRIPTION,
    AssignError,
    BoolArray,
    IntArray,
)
from cases.catalogue import load_catalogue
from gis import crs as crsmod


@dataclass
class Checked:
    """The good rows, ready to COPY, and the rejects."""

    good: pa.Table
    no_location: int
    reject_line: IntArray
    reject_reason: npt.NDArray[np.object_]
    reject_values: dict[str, npt.NDArray[np.object_]]


_B32HEX: Final = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUV", dtype=np.uint8)


def tokens(n: int) -> pa.Array:
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


def validate(rows: Rows, crs: str, now_us: int, timezone: str) -> Checked:
    """Every check over whole columns; reasons joined per row.

    Naive times are local times of `timezone`; `now_us` bounds the future.
    """
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
        lon_in, lon_miss, lon_nonfin, lon_nan_txt = numbers(rows.lon_txt)
        lat_in, lat_miss, lat_nonfin, lat_nan_txt = numbers(rows.lat_txt)
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
    ts, ts_missing, ts_bad = timestamps(rows.reported_at, timezone)
    ts_ok = ~ts_missing & ~ts_bad
    checks += [
        (ts_missing, "reported_at is missing"),
        (ts_bad, "reported_at is not an ISO 8601 date-time (e.g. 2025-03-01T08:15:00+08:00)"),
        (ts_ok & (ts > now_us + FUTURE_SLACK_US), "reported_at is in the future"),
        (ts_ok & (ts < EARLIEST.astype(np.int64)), "reported_at is before 2000-01-01"),
    ]
    course = check_history(rows.history, ts, ts_ok, now_us, timezone)
    if course is not None:
        checks += course.checks

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
            pc.fill_null(as_text(a).take(take), "").to_numpy(zero_copy_only=False), dtype=object
        )

    reject_values = {
        "lon": raw(rows.lon_txt),
        "lat": raw(rows.lat_txt),
        "subclass": raw(rows.subclass),
        "reported_at": raw(rows.reported_at),
        "description": raw(rows.description),
        "address": raw(rows.address),
        **{name: raw(col) for name, col in rows.history.items()},
        "raw": np.full(len(bad_idx), "", dtype=object),
    }

    # The good rows, with what the rules and the store need.
    good = ~bad
    gi = np.flatnonzero(good)
    gsel = pa.array(gi)
    located_in = ~no_location[gi]
    lon_keep = np.where(located_in, lon_in[gi], np.nan)
    lat_keep = np.where(located_in, lat_in[gi], np.nan)
    table = pa.table(
        {
            "line": pa.array(rows.line[gi], pa.int64()),
            "lon_in": pa.array(lon_keep, mask=np.isnan(lon_keep)),
            "lat_in": pa.array(lat_keep, mask=np.isnan(lat_keep)),
            "lon": pa.array(x[gi], mask=~located_in | np.isnan(x[gi])),
            "lat": pa.array(y[gi], mask=~located_in | np.isnan(y[gi])),
            "subclass": sub.take(gsel),
            "reported_at": pa.array(ts[gi].astype("datetime64[us]"), pa.timestamp("us", "UTC")),
            "description": desc.take(gsel),
            "address": address.take(gsel),
            **({} if course is None else {k: v.take(gsel) for k, v in course.columns.items()}),
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
    return Checked(
        good=table,
        no_location=int(no_location[gi].sum()),
        reject_line=line[order],
        reject_reason=reasons[order],
        reject_values={k: v[order] for k, v in reject_values.items()},
    )


def write_rejects(path: Path, checked: Checked) -> None:
    """The rejects CSV (UTF-8 with BOM, for Excel): line, reason, the values as read."""
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
