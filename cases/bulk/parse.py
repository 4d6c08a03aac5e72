"""Parsing text columns into values, over whole columns: numbers and ISO 8601 times.

Shared by the row checks (cases.bulk.validate) and the history checks
(cases.bulk.history). No Python loop runs over the rows.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cases.bulk.result import BoolArray, FloatArray, IntArray

_NUMBER_RE: Final = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_NONFINITE_RE: Final = r"^[+-]?(nan|inf|infinity)$"
_ISO_RE: Final = (
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
    r"(Z|z|[+-]\d{2}(:?\d{2})?)?)?$"
)
_ZONED_RE: Final = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_DATE_ONLY_RE: Final = r"^\d{4}-\d{2}-\d{2}$"


def numbers(txt: pa.Array) -> tuple[FloatArray, BoolArray, BoolArray, BoolArray]:
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


def _local_to_utc(values: IntArray, timezone: str) -> IntArray:
    """Microseconds of local wall-clock times in `timezone` → UTC microseconds."""
    naive = pa.array(values, pa.timestamp("us"))
    aware = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="earliest")
    return np.asarray(pc.cast(aware, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def timestamps(col: pa.Array, timezone: str) -> tuple[IntArray, BoolArray, BoolArray]:
    """A time column (reported_at, …) → UTC microseconds: (values, missing, not ISO 8601).

    A time without a zone offset is local time of `timezone` (the calendar's).
    """
    n = len(col)
    if pa.types.is_timestamp(col.type):
        tz = col.type.tz
        us = pc.cast(col, pa.timestamp("us", tz)) if col.type.unit != "us" else col
        raw = np.asarray(pc.cast(us, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = np.isnan(raw)
        values = np.where(missing, 0, raw).astype(np.int64)
        if tz is None:
            values = _local_to_utc(values, timezone)
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
            values[idx] = _local_to_utc(values[idx], timezone)
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
