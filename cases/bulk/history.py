"""A case's later course in a file: the optional history columns, checked over whole columns.

A file of history (a year of hotline records) may say, per row, how the case
went on after intake (rule 6 of cases.intake.rules):

- `status`: dispatched, in_progress, closed or evaluated (`HISTORY_STATUSES`;
  their Chinese names 已派遣, 处置中, 已结案, 已评价 too; case and spaces do
  not matter); empty: a new complaint, as without the column;
- `dispatched_at`: when it was dispatched; the due clock starts there (else
  at `reported_at`); not before `reported_at`;
- `closed_at`: when it was closed (核查结案): needed by a closed or evaluated
  case, refused for an open one (or one without status); not before
  `reported_at` nor `dispatched_at`;
- `rating`: the resident's rating, a whole number 1 to 5: needed by an
  evaluated case, refused for any other.

Times follow reported_at's rules (ISO 8601; without a zone offset, local
time of the calendar's zone; not in the future). A row that breaks any of
these goes to the rejects file with every reason, like any other bad row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cases.bulk.parse import numbers, timestamps
from cases.bulk.result import FUTURE_SLACK_US, AssignResult, BoolArray, IntArray
from cases.intake.rules import HISTORY_CLOSED, HISTORY_STATUSES, History, clock_start
from cases.lifecycle.states import BY_CODE

Check = tuple[BoolArray, str]
_US: Final = pa.timestamp("us", "UTC")


@dataclass
class Course:
    """The checks of the history columns, and their values (one per row of the file)."""

    checks: list[Check]
    columns: dict[str, pa.Array]  # status, dispatched_at, closed_at, rating: for the good rows


def _statuses(text: pa.Array) -> tuple[pa.Array, BoolArray]:
    """(status codes with nulls where empty, unknown): codes or their Chinese names."""
    t = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(text, "")))
    words = [*HISTORY_STATUSES, *(BY_CODE[s].label for s in HISTORY_STATUSES)]
    codes = pa.array([*HISTORY_STATUSES, *HISTORY_STATUSES], pa.string())
    given = np.asarray(pc.not_equal(t, ""), dtype=bool)
    at = pc.index_in(t, value_set=pa.array(words, pa.string()))
    unknown = given & np.asarray(pc.is_null(at), dtype=bool)
    return codes.take(at), unknown


def _time(
    rows: dict[str, pa.Array], name: str, n: int, now_us: int, timezone: str
) -> tuple[IntArray, BoolArray, list[Check]]:
    """A history time column: (UTC µs, present and valid, its own checks)."""
    if name not in rows:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), []
    values, missing, bad = timestamps(rows[name], timezone)
    ok = ~missing & ~bad
    return (
        values,
        ok,
        [
            (bad, f"{name} is not an ISO 8601 date-time (e.g. 2025-03-01T08:15:00+08:00)"),
            (ok & (values > now_us + FUTURE_SLACK_US), f"{name} is in the future"),
        ],
    )


def check_history(
    history: dict[str, pa.Array],
    reported: IntArray,
    reported_ok: BoolArray,
    now_us: int,
    timezone: str,
) -> Course | None:
    """The checks of a file's history columns (module docs) and their values; None when
    the file has none of them (then nothing changes: rules 1-5 alone)."""
    if not history:
        return None
    n = len(reported)
    status, unknown = _statuses(history.get("status", pa.nulls(n, pa.string())).cast(pa.string()))
    closed_status = np.asarray(
        pc.fill_null(pc.is_in(status, value_set=pa.array(HISTORY_CLOSED)), False), dtype=bool
    )
    evaluated = np.asarray(pc.fill_null(pc.equal(status, "evaluated"), False), dtype=bool)
    dispatched, has_dispatched, checks = _time(history, "dispatched_at", n, now_us, timezone)
    closed, has_closed, closed_checks = _time(history, "closed_at", n, now_us, timezone)
    checks += closed_checks
    accepted = ", ".join(HISTORY_STATUSES)
    checks += [
        (unknown, f"status is not one a file can give: {accepted} (or empty: a new complaint)"),
        (
            has_dispatched & reported_ok & (dispatched < reported),
            "dispatched_at is before reported_at",
        ),
        (has_closed & reported_ok & (closed < reported), "closed_at is before reported_at"),
        (has_closed & has_dispatched & (closed < dispatched), "closed_at is before dispatched_at"),
        (
            has_closed & ~closed_status & ~unknown,
            "closed_at is given but the status is not closed or evaluated",
        ),
        (closed_status & ~has_closed, "a closed or evaluated case needs closed_at"),
    ]
    rating = np.zeros(n, dtype=np.int64)
    if "rating" in history:
        value, missing, nonfinite, not_number = numbers(history["rating"].cast(pa.string()))
        whole = ~missing & ~nonfinite & ~not_number & (np.round(value) == value)
        fine = whole & (value >= 1) & (value <= 5)
        rating = np.where(fine, value, 0).astype(np.int64)
        checks += [
            (~missing & ~fine, "rating is not a whole number from 1 to 5"),
            (~missing & ~evaluated & ~unknown, "rating is only for an evaluated case"),
            (evaluated & missing, "an evaluated case needs its rating (1 to 5)"),
        ]
    elif evaluated.any():
        checks.append((evaluated, "an evaluated case needs its rating (1 to 5): no rating column"))

    def times(values: IntArray, present: BoolArray) -> pa.Array:
        return pa.array(values.astype("datetime64[us]"), _US, mask=~present)

    return Course(
        checks=checks,
        columns={
            "status": status,
            "dispatched_at": times(dispatched, has_dispatched),
            "closed_at": times(closed, has_closed),
            "rating": pa.array(rating, pa.int64()),
        },
    )


def history_of(good: pa.Table) -> History | None:
    """The rules' History of the good rows (None when the file had no history columns)."""
    if "closed_at" not in good.column_names:
        return None
    return History(
        status=good.column("status").combine_chunks(),
        reported_at=_times_of(good, "reported_at"),
        closed_at=_times_of(good, "closed_at"),
        rating=np.asarray(good.column("rating").to_numpy(), dtype=np.int64),
    )


def clock_of(good: pa.Table, reported: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """When each good row's due clock starts (rules 3 and 6: cases.intake.rules.clock_start)."""
    if "dispatched_at" not in good.column_names:
        return reported
    return clock_start(reported, _times_of(good, "dispatched_at"))


def _times_of(good: pa.Table, name: str) -> npt.NDArray[np.datetime64]:
    """A timestamp column as numpy times (NaT for null)."""
    col = good.column(name).combine_chunks()
    raw = np.asarray(col.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    out = np.full(len(raw), np.datetime64("NaT"), dtype="datetime64[us]")
    ok = ~np.isnan(raw)
    out[ok] = raw[ok].astype(np.int64).astype("datetime64[us]")
    return out


def count_statuses(result: AssignResult, status: pa.Array, history: History | None) -> None:
    """The cases written per status, and (with history) how many rows the placement kept
    from taking the file's status (rule 6: outside the district, not placed, no station)."""
    counts = pc.value_counts(status).to_pylist()
    result.by_status = {str(c["values"]): int(c["counts"]) for c in counts}
    if history is not None:
        result.history = True
        differ = pc.fill_null(pc.not_equal(history.status, status), False)
        result.history_not_applied = int(pc.sum(differ).as_py() or 0)
