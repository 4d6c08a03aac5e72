"""Working-time calendar: known cases, holidays, and the vectorised form == the scalar."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cases.calendar import (
    CalendarConfig,
    CalendarError,
    WorkCalendar,
    add_working_hours,
    add_working_hours_many,
    config_from_dict,
    load_calendar,
)
from gis.settings import ROOT

SH = ZoneInfo("Asia/Shanghai")
PLAIN = WorkCalendar(CalendarConfig())  # Mon-Fri, no holidays


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (at(2026, 11, 20, 17), 2, at(2026, 11, 23, 9, 30)),  # Friday 17:00 + 2h -> Monday 09:30
        (at(2026, 11, 20, 16), 2, at(2026, 11, 20, 18)),  # ends at the close, not next morning
        (at(2026, 11, 23, 11), 2, at(2026, 11, 23, 15, 30)),  # over the lunch break
        (at(2026, 11, 23, 12, 30), 1, at(2026, 11, 23, 15, 30)),  # start in the lunch break
        (at(2026, 11, 23, 7), 1, at(2026, 11, 23, 9, 30)),  # start before work
        (at(2026, 11, 23, 20), 1, at(2026, 11, 24, 9, 30)),  # start after work
        (at(2026, 11, 21, 10), 1, at(2026, 11, 23, 9, 30)),  # Saturday
        (at(2026, 11, 23, 8, 30), 7, at(2026, 11, 23, 18)),  # a whole day is 7 hours
        (at(2026, 11, 23, 8, 30), 35, at(2026, 11, 27, 18)),  # a whole week
        (at(2026, 11, 23, 10), 0, at(2026, 11, 23, 10)),  # zero: as is
        (at(2026, 11, 22, 10), 0, at(2026, 11, 22, 10)),  # zero on a Sunday: as is
        (at(2026, 11, 23, 9), 0.25, at(2026, 11, 23, 9, 15)),
    ],
)
def test_known_cases_plain_week(start: datetime, hours: float, expected: datetime) -> None:
    assert PLAIN.add_working_hours(start, hours) == expected


def test_bureau_calendar_holidays_and_make_up_days() -> None:
    # National Day 2026: Oct 1-7 off; Sep 30 17:00 + 2h -> Oct 8 (Thursday) 09:30
    assert add_working_hours(at(2026, 9, 30, 17), 2) == at(2026, 10, 8, 9, 30)
    # Oct 10 2026 is a Saturday worked instead: Friday Oct 9 17:00 + 2h -> Sat Oct 10 09:30
    assert add_working_hours(at(2026, 10, 9, 17), 2) == at(2026, 10, 10, 9, 30)
    # Spring Festival 2026: Feb 15-23 off, Feb 14 (Saturday) worked
    assert add_working_hours(at(2026, 2, 13, 17), 2) == at(2026, 2, 14, 9, 30)
    assert add_working_hours(at(2026, 2, 14, 17), 2) == at(2026, 2, 24, 9, 30)


def test_other_time_zones_in_and_out() -> None:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # Friday 17:00 in Shanghai
    out = add_working_hours(start, 2)
    assert out.tzinfo is UTC
    assert out == at(2026, 11, 23, 9, 30)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PLAIN.add_working_hours(datetime(2026, 11, 23, 9), 1)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="hours"):
            PLAIN.add_working_hours(at(2026, 11, 23, 9), bad)
    with pytest.raises(ValueError, match="hours"):
        PLAIN.add_working_hours_many(
            np.array(["2026-11-23T01:00"], "datetime64[us]"), np.array([-1.0])
        )


def test_config_from_dict_and_errors(tmp_path: Path) -> None:
    cfg = config_from_dict(
        {
            "weekdays": ["mon", "Tuesday"],
            "periods": ["09:00-17:00"],
            "holidays": [date(2026, 11, 24)],
            "workdays": ["2026-11-28"],
        }
    )
    cal = WorkCalendar(cfg)
    assert cal.add_working_hours(at(2026, 11, 23, 16), 2) == at(2026, 11, 28, 10)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"weekdays": ["someday"]}, "weekdays"),
        ({"periods": ["12:00-08:00"]}, "before it starts"),
        ({"periods": ["8-12"]}, "08:30-12:00"),
        ({"periods": ["08:00-12:00", "11:00-14:00"]}, "overlap"),
        ({"holidays": ["tomorrow"]}, "not a date"),
        ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "both"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"colour": "red"}, "unknown keys"),
    ]
    for raw, msg in cases:
        with pytest.raises(CalendarError, match=msg):
            config_from_dict(raw)
    bad = tmp_path / "catalogue.toml"
    bad.write_text('[calendar]\nperiods = ["8-12"]\n', encoding="utf-8")
    with pytest.raises(CalendarError, match=str(bad)):
        load_calendar(bad)


def test_shipped_calendar_loads() -> None:
    cal = load_calendar(ROOT / "data" / "catalogue.toml")
    assert cal.config.timezone == "Asia/Shanghai"
    assert date(2026, 10, 1) in cal.config.holidays
    assert date(2026, 10, 10) in cal.config.workdays
    assert load_calendar(ROOT / "data" / "catalogue.toml") is cal


def _random_inputs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    span_us = 3 * 365 * 86_400 * 10**6
    starts = np.datetime64("2024-01-01T00:00:00", "us") + rng.integers(0, span_us, n).astype(
        "timedelta64[us]"
    )
    # some starts exactly on period boundaries, some hours exactly to a boundary
    k = n // 10
    day = rng.integers(0, 3 * 365, k).astype("timedelta64[D]")
    edge = rng.choice(np.array([30, 240, 390, 600], dtype="timedelta64[m]"), k)
    starts[:k] = np.datetime64("2024-01-01T00:00", "us") + day + edge  # 08:30 12:00 ...
    hours = rng.choice(np.array([0, 0.5, 1, 2, 3.5, 4, 7, 8, 16, 24, 40, 200]), n)
    hours[k : 2 * k] = rng.uniform(0, 100, k)
    return starts, hours


def test_vectorised_equals_scalar_on_random_inputs() -> None:
    starts, hours = _random_inputs(10_000, seed=7)
    cal = load_calendar(ROOT / "data" / "catalogue.toml")
    many = cal.add_working_hours_many(starts, hours)
    assert many.dtype == np.dtype("datetime64[us]")
    for s, h, v in zip(starts.tolist(), hours.tolist(), many.tolist(), strict=True):
        one = cal.add_working_hours(s.replace(tzinfo=UTC), h)
        assert one == v.replace(tzinfo=UTC), (s, h)


def test_vectorised_nat_nan_and_broadcast() -> None:
    starts = np.array(["2026-11-20T09:00", "NaT", "2026-11-20T09:00"], "datetime64[us]")
    out = add_working_hours_many(starts, np.array([2.0, 1.0, np.nan]))
    assert out[0] == np.datetime64("2026-11-23T01:30", "us")  # Mon 09:30 Shanghai
    assert np.isnat(out[1]) and np.isnat(out[2])
    out = add_working_hours_many(starts[:1].astype("datetime64[ns]"), 2.0)
    assert out[0] == np.datetime64("2026-11-23T01:30", "us")
    assert np.isnat(add_working_hours_many(starts[1:2], 1.0)).all()


def test_vectorised_far_range_extends_the_table() -> None:
    cal = WorkCalendar(CalendarConfig())
    starts = np.array(["1995-03-01T02:00", "2075-06-02T02:00"], "datetime64[us]")
    out = cal.add_working_hours_many(starts, np.array([10.0, 3000.0]))
    for s, h, v in zip(starts.tolist(), [10.0, 3000.0], out.tolist(), strict=True):
        assert cal.add_working_hours(s.replace(tzinfo=UTC), h) == v.replace(tzinfo=UTC)


def test_vectorised_one_million_rows_is_fast() -> None:
    starts, hours = _random_inputs(1_000_000, seed=11)
    cal = load_calendar(ROOT / "data" / "catalogue.toml")
    cal.add_working_hours_many(starts[:10], hours[:10])  # build the tables once
    t0 = clock.perf_counter()
    out = cal.add_working_hours_many(starts, hours)
    elapsed = clock.perf_counter() - t0
    assert out.shape == starts.shape
    assert elapsed < 3.0, f"1M rows took {elapsed:.2f} s"
    assert (out >= starts).all()
    assert (out - starts <= np.timedelta64(120, "D")).all()
    assert timedelta(0) <= (out[5] - starts[5]).item()
