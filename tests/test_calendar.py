"""Working-time calendar: known cases, holidays and 调休 from the library, the table's
overrides, uncovered years (provisional), working days, the reply deadline, the
vectorised form == the scalar, and `grid calendar check`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest
from typer.testing import CliRunner

from cases.calendar import (
    CalendarConfig,
    CalendarError,
    Deadline,
    Deadlines,
    TimeLimit,
    WorkCalendar,
    add_working_hours,
    add_working_hours_many,
    calendar_coverage,
    calendar_path,
    calendar_warnings,
    config_from_dict,
    deadline,
    deadline_many,
    handling_deadline,
    limit_arrays,
    load_calendar,
    log_calendar_warnings,
    reply_deadline,
)
from cases.catalogue import CatalogueError, load_catalogue, parse_catalogue
from gis.settings import ROOT
from gridcli.main import app

SH = ZoneInfo("Asia/Shanghai")
PLAIN = WorkCalendar(CalendarConfig())  # Mon-Fri, no holidays, no library
SHIPPED = ROOT / "data" / "holidays.toml"
# Years no version of the library can know yet: the weekday rule applies there.
# 2091-01-01 and 2091-10-01 are Mondays; 2090-12-29 and 2091-09-28 Fridays.
FAR = 2091


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def bureau() -> WorkCalendar:
    return load_calendar(SHIPPED)


def write_calendar(folder: Path, body: str) -> Path:
    path = folder / "holidays.toml"
    path.write_text(
        '[calendar]\ntimezone = "Asia/Shanghai"\nperiods = ["08:30-12:00", "14:30-18:00"]\n' + body,
        encoding="utf-8",
    )
    return path


# ------------------------------------------------------------- plain week


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (at(2026, 11, 20, 17), 2, at(2026, 11, 23, 9, 30)),  # Friday 17:00 + 2h -> Monday 09:30
        (at(2026, 11, 20, 16), 2, at(2026, 11, 20, 18)),  # ends at the close, not next morning
        (at(2026, 11, 23, 11), 2, at(2026, 11, 23, 15, 30)),  # over the lunch break
        (at(2026, 11, 23, 12, 30), 1, at(2026, 11, 23, 15, 30)),  # start in the lunch break
        (at(2026, 11, 23, 11, 30), 0.5, at(2026, 11, 23, 12)),  # ends at the lunch break
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
    assert bureau().deadline(start, hours) == Deadline(expected, False)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (at(2026, 11, 23, 7), 1, at(2026, 11, 24, 18)),  # Monday before work: not day 1
        (at(2026, 11, 23, 10), 1, at(2026, 11, 24, 18)),  # the start day is never counted
        (at(2026, 11, 20, 17), 1, at(2026, 11, 23, 18)),  # Friday -> close of Monday
        (at(2026, 11, 21, 10), 1, at(2026, 11, 23, 18)),  # Saturday -> close of Monday
        (at(2026, 11, 23, 10), 5, at(2026, 11, 30, 18)),  # five working days: next Monday
        (at(2026, 11, 23, 10), 0, at(2026, 11, 23, 10)),  # zero: as is
    ],
)
def test_working_days_end_at_the_close_of_the_nth_day(
    start: datetime, days: int, expected: datetime
) -> None:
    assert PLAIN.add_working_days(start, days) == expected
    assert bureau().deadline(start, TimeLimit.days(days)) == Deadline(expected, False)


# ------------------------------------------- holidays and 调休 (library)


def test_library_gives_holidays_and_adjusted_workdays() -> None:
    cal = bureau()
    # the 2026 notice, as checked in FIELD-NOTES: Saturday 2026-02-14 worked, 02-23 off
    assert cal.config.is_workday(date(2026, 2, 14)) and date(2026, 2, 14).weekday() == 5
    assert not cal.config.is_workday(date(2026, 2, 23)) and date(2026, 2, 23).weekday() == 0
    lib = holidays.China(years=range(2001, 2027))
    assert lib.is_working_day(date(2026, 2, 14)) and not lib.is_working_day(date(2026, 2, 23))
    # every day of every covered year: the bureau's Mon-Fri calendar == the library's
    assert set(range(2001, 2027)) <= cal.config.covered_years
    day = date(2001, 1, 1)
    while day <= date(2026, 12, 31):
        assert cal.config.is_workday(day) == lib.is_working_day(day), day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        # National Day 2026: Oct 1-7 off; Sep 30 17:00 + 2h -> Oct 8 (Thursday) 09:30
        (at(2026, 9, 30, 17), TimeLimit.hours(2), at(2026, 10, 8, 9, 30)),
        # Oct 10 2026 is a Saturday worked instead: Friday Oct 9 17:00 + 2h -> Sat 09:30
        (at(2026, 10, 9, 17), TimeLimit.hours(2), at(2026, 10, 10, 9, 30)),
        # Spring Festival 2026: Feb 15-23 off, Saturday Feb 14 worked
        (at(2026, 2, 13, 17), TimeLimit.hours(2), at(2026, 2, 14, 9, 30)),
        (at(2026, 2, 14, 17), TimeLimit.hours(2), at(2026, 2, 24, 9, 30)),
        (at(2026, 2, 14, 11), TimeLimit.hours(2), at(2026, 2, 14, 15, 30)),  # lunch, 调休 day
        # in days: Feb 13 -> day 1 is Saturday Feb 14, day 2 Tuesday Feb 24
        (at(2026, 2, 13, 10), TimeLimit.days(2), at(2026, 2, 24, 18)),
        # 2026-02-28 (Saturday) is worked too: Friday Feb 27 -> its close
        (at(2026, 2, 27, 10), TimeLimit.days(1), at(2026, 2, 28, 18)),
        # New Year 2026: Jan 1-3 off, Sunday Jan 4 worked
        (at(2025, 12, 31, 17), TimeLimit.hours(2), at(2026, 1, 4, 9, 30)),
    ],
)
def test_public_holidays_and_adjusted_workdays(
    start: datetime, limit: TimeLimit, expected: datetime
) -> None:
    assert deadline(start, limit, bureau()) == Deadline(expected, False)
    if not limit.in_days:
        assert add_working_hours(start, limit.amount, bureau()) == expected


def test_other_time_zones_in_and_out() -> None:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # Friday 17:00 in Shanghai
    out = add_working_hours(start, 2, bureau())
    assert out.tzinfo is UTC
    assert out == at(2026, 11, 23, 9, 30)
    due = deadline(start, TimeLimit.days(1), bureau())
    assert due.at.tzinfo is UTC and due.at == at(2026, 11, 23, 18)


# ------------------------------------------------------- uncovered years


def test_uncovered_year_counts_weekdays_and_is_provisional() -> None:
    cal = bureau()
    assert not cal.config.is_covered(FAR) and not cal.config.is_covered(FAR - 1)
    # 1 January and 1 October of an unknown year are counted as working Mondays
    assert cal.deadline(at(FAR - 1, 12, 29, 17), 2) == Deadline(at(FAR, 1, 1, 9, 30), True)
    assert cal.deadline(at(FAR, 9, 28, 17), 2) == Deadline(at(FAR, 10, 1, 9, 30), True)
    assert cal.deadline(at(FAR, 9, 28, 10), TimeLimit.days(1)) == Deadline(at(FAR, 10, 1, 18), True)
    # weekends still do not count
    assert cal.deadline(at(FAR, 9, 28, 17), 8).at == at(FAR, 10, 1, 18)
    # from a covered year into one that is not: provisional as soon as it reaches it
    start = at(2026, 12, 31, 17)
    due = cal.deadline(start, 2)
    assert due.at.year == 2027 and due.provisional == (not cal.config.is_covered(2027))
    assert cal.deadline(start, 1) == Deadline(at(2026, 12, 31, 18), False)


def test_library_off_covers_only_the_tables_years(tmp_path: Path) -> None:
    cal = load_calendar(write_calendar(tmp_path, "library = false\n"))
    assert cal.config.covered_years == frozenset() and cal.config.library_version is None
    # without the library, National Day 2026 is counted (weekdays), and provisional
    assert cal.deadline(at(2026, 9, 30, 17), 2) == Deadline(at(2026, 10, 1, 9, 30), True)


# ------------------------------------------------------ the table (overrides)


def _many_equal_scalar(
    cal: WorkCalendar, starts: np.ndarray, amounts: np.ndarray, in_days: np.ndarray
) -> Deadlines:
    """`deadline_many` over the rows, each row the same as `deadline` (hours or days).

    The rows must mix provisional deadlines (uncovered years) with settled ones.
    """
    got = cal.deadline_many(starts, amounts, in_days)
    assert got.provisional.any() and not got.provisional.all()
    for s, a, d, v, p in zip(
        starts.tolist(),
        amounts.tolist(),
        in_days.tolist(),
        got.at.tolist(),
        got.provisional.tolist(),
        strict=True,
    ):
        limit = TimeLimit.days(int(a)) if d else TimeLimit.hours(a)
        one = cal.deadline(s.replace(tzinfo=UTC), limit)
        assert one == Deadline(v.replace(tzinfo=UTC), p), (s, limit)
    return got


def test_table_overrides_the_library_and_completes_a_year(tmp_path: Path) -> None:
    path = write_calendar(
        tmp_path,
        f"complete_years = [{FAR}]\n"
        # a local day off on a Monday the library has as working, and a library
        # make-up Saturday the bureau does not work
        f"holidays = [2026-11-23, 2026-10-10, {FAR}-10-01, {FAR}-10-02, {FAR}-10-03, "
        f"{FAR}-10-04, {FAR}-10-05]\n"
        f"workdays = [2026-11-28, {FAR}-09-29]\n",
    )
    cal = load_calendar(path)
    assert cal.config.is_covered(FAR) and cal.config.is_covered(2026)
    assert cal.config.table_holidays >= {date(2026, 11, 23)}
    assert cal.deadline(at(2026, 11, 20, 17), 2) == Deadline(at(2026, 11, 24, 9, 30), False)
    assert cal.deadline(at(2026, 11, 27, 17), 2).at == at(2026, 11, 28, 9, 30)
    assert cal.deadline(at(2026, 10, 9, 17), 2).at == at(2026, 10, 12, 9, 30)
    # the completed year: its days, and no longer provisional
    assert cal.deadline(at(FAR, 9, 28, 17), 2) == Deadline(at(FAR, 9, 29, 9, 30), False)
    assert cal.deadline(at(FAR, 9, 28, 17), 9) == Deadline(at(FAR, 10, 8, 9, 30), False)
    # covered years in two runs (library, then FAR): the vectorised form agrees too
    rng = np.random.default_rng(3)
    base = np.array(["2026-06-01T00:00", f"{FAR - 1}-06-01T00:00"], "datetime64[us]")
    starts = np.repeat(base, 500) + rng.integers(0, 2 * 365 * 86_400 * 10**6, 1_000).astype(
        "timedelta64[us]"
    )
    amounts = rng.integers(0, 30, 1_000).astype(np.float64)
    in_days = rng.random(1_000) < 0.5
    _many_equal_scalar(cal, starts, amounts, in_days)
    # the shipped table is readable and keeps the bureau's hours
    shipped = bureau()
    assert shipped.config.timezone == "Asia/Shanghai"
    assert [(f"{a:%H:%M}", f"{b:%H:%M}") for a, b in shipped.config.periods] == [
        ("08:30", "12:00"),
        ("14:30", "18:00"),
    ]
    assert load_calendar(SHIPPED) is shipped  # cached


def test_table_days_in_an_uncovered_year_apply_but_stay_provisional(tmp_path: Path) -> None:
    cal = load_calendar(write_calendar(tmp_path, f"holidays = [{FAR}-10-01]\n"))
    assert cal.deadline(at(FAR, 9, 28, 17), 2) == Deadline(at(FAR, 10, 2, 9, 30), True)
    assert "1 days of it" in calendar_warnings(date(FAR, 3, 1), cal)[0]


def test_calendar_path_and_the_old_catalogue_path(tmp_path: Path) -> None:
    assert calendar_path(ROOT / "data" / "catalogue.toml") == SHIPPED
    assert calendar_path(ROOT / "data") == SHIPPED
    assert load_calendar(ROOT / "data" / "catalogue.toml") is bureau()
    with pytest.raises(CalendarError, match="cannot read the calendar"):
        load_calendar(tmp_path / "catalogue.toml")


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
        ({"holidays": "2026-10-10"}, "a list"),
        ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "both"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"library": "yes"}, "true or false"),
        ({"complete_years": ["2027"]}, "not a year"),
        ({"colour": "red"}, "unknown keys"),
    ]
    for raw, msg in cases:
        with pytest.raises(CalendarError, match=msg):
            config_from_dict(raw)
    bad = write_calendar(tmp_path, 'weekdays = ["mon"]\nperiods = ["8-12"]\n')
    with pytest.raises(CalendarError, match=str(bad)):
        load_calendar(bad)
    extra = tmp_path / "extra" / "holidays.toml"
    extra.parent.mkdir()
    extra.write_text("[calendar]\n[classes]\n", encoding="utf-8")
    with pytest.raises(CalendarError, match="unknown tables"):
        load_calendar(extra)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PLAIN.add_working_hours(datetime(2026, 11, 23, 9), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        PLAIN.deadline(datetime(2026, 11, 23, 9), TimeLimit.days(1))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="hours"):
            PLAIN.add_working_hours(at(2026, 11, 23, 9), bad)
        with pytest.raises(ValueError, match="time limit"):
            TimeLimit.hours(bad)
    with pytest.raises(ValueError, match="whole number"):
        TimeLimit(1.5, "days")
    with pytest.raises(ValueError, match="whole number"):
        PLAIN.add_working_days(at(2026, 11, 23, 9), 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'hours' or 'days'"):
        TimeLimit(1, "weeks")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hours"):
        PLAIN.add_working_hours_many(
            np.array(["2026-11-23T01:00"], "datetime64[us]"), np.array([-1.0])
        )
    one = np.array(["2026-11-23T01:00"], "datetime64[us]")
    with pytest.raises(ValueError, match="time limits"):
        PLAIN.deadline_many(one, np.array([-1.0]))
    with pytest.raises(ValueError, match="whole number"):
        PLAIN.deadline_many(one, np.array([1.5]), True)
    assert TimeLimit.hours(4).describe() == "4 个工作小时"
    assert TimeLimit.days(5).describe() == "5 个工作日"


# ------------------------------------------------------------ vectorised


def _random_inputs(n: int, seed: int, years: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    span_us = years * 365 * 86_400 * 10**6
    starts = np.datetime64("2024-01-01T00:00:00", "us") + rng.integers(0, span_us, n).astype(
        "timedelta64[us]"
    )
    # some starts exactly on period boundaries, some hours exactly to a boundary
    k = n // 10
    day = rng.integers(0, years * 365, k).astype("timedelta64[D]")
    edge = rng.choice(np.array([30, 240, 390, 600], dtype="timedelta64[m]"), k)
    starts[:k] = np.datetime64("2024-01-01T00:00", "us") + day + edge  # 08:30 12:00 ...
    hours = rng.choice(np.array([0, 0.5, 1, 2, 3.5, 4, 7, 8, 16, 24, 40, 200]), n)
    hours[k : 2 * k] = rng.uniform(0, 100, k)
    return starts, hours


def test_vectorised_hours_equal_scalar_on_random_inputs() -> None:
    starts, hours = _random_inputs(10_000, seed=7)
    cal = bureau()
    many = cal.add_working_hours_many(starts, hours)
    assert many.dtype == np.dtype("datetime64[us]")
    for s, h, v in zip(starts.tolist(), hours.tolist(), many.tolist(), strict=True):
        one = cal.add_working_hours(s.replace(tzinfo=UTC), h)
        assert one == v.replace(tzinfo=UTC), (s, h)


def test_vectorised_deadlines_equal_scalar_with_days_and_provisional() -> None:
    # 2024 to 2029: covered years, the uncovered ones after the library's last, the seam
    starts, hours = _random_inputs(6_000, seed=13, years=6)
    rng = np.random.default_rng(5)
    in_days = rng.random(len(starts)) < 0.4
    amounts = np.where(in_days, rng.integers(0, 25, len(starts)), hours)
    cal = bureau()
    got = _many_equal_scalar(cal, starts, amounts, in_days)
    assert got.at.dtype == np.dtype("datetime64[us]") and got.provisional.dtype == np.bool_
    # one unit for all rows takes the same answers as the mixed call
    only_h = cal.deadline_many(starts[~in_days], amounts[~in_days])
    only_d = cal.deadline_many(starts[in_days], amounts[in_days], True)
    assert (only_h.at == got.at[~in_days]).all() and (only_d.at == got.at[in_days]).all()
    assert (only_d.provisional == got.provisional[in_days]).all()
    # the legacy form agrees with the new one on hours
    assert (cal.add_working_hours_many(starts[~in_days], amounts[~in_days]) == only_h.at).all()


def test_vectorised_nat_nan_and_broadcast() -> None:
    starts = np.array(["2026-11-20T09:00", "NaT", "2026-11-20T09:00"], "datetime64[us]")
    out = add_working_hours_many(starts, np.array([2.0, 1.0, np.nan]), bureau())
    assert out[0] == np.datetime64("2026-11-23T01:30", "us")  # Mon 09:30 Shanghai
    assert np.isnat(out[1]) and np.isnat(out[2])
    out = add_working_hours_many(starts[:1].astype("datetime64[ns]"), 2.0, bureau())
    assert out[0] == np.datetime64("2026-11-23T01:30", "us")
    assert np.isnat(add_working_hours_many(starts[1:2], 1.0, bureau())).all()
    got = deadline_many(starts, np.array([1.0, 1.0, np.nan]), True, bureau())
    assert got.at[0] == np.datetime64("2026-11-23T10:00", "us")  # Monday 18:00 Shanghai
    assert np.isnat(got.at[1]) and np.isnat(got.at[2]) and not got.provisional.any()
    none = deadline_many(starts[1:2], 1.0, calendar=bureau())
    assert np.isnat(none.at).all() and not none.provisional.any()


def test_vectorised_far_range_extends_the_table() -> None:
    cal = WorkCalendar(CalendarConfig())
    starts = np.array(["1995-03-01T02:00", "2075-06-02T02:00"], "datetime64[us]")
    out = cal.add_working_hours_many(starts, np.array([10.0, 3000.0]))
    for s, h, v in zip(starts.tolist(), [10.0, 3000.0], out.tolist(), strict=True):
        assert cal.add_working_hours(s.replace(tzinfo=UTC), h) == v.replace(tzinfo=UTC)
    got = cal.deadline_many(starts, np.array([3.0, 400.0]), True)
    for s, n, v in zip(starts.tolist(), [3, 400], got.at.tolist(), strict=True):
        assert cal.add_working_days(s.replace(tzinfo=UTC), n) == v.replace(tzinfo=UTC)
    assert got.provisional.all()  # a calendar without sources covers nothing


# ------------------------------------------------------- the two clocks


def test_reply_and_handling_deadlines_from_the_catalogue(tmp_path: Path) -> None:
    catalogue = load_catalogue(ROOT / "data" / "catalogue.toml")
    sub = catalogue.subclass("0101")
    assert sub.reply_limit == TimeLimit.days(5)  # the file's default
    assert sub.time_limit == TimeLimit.hours(sub.time_limit_hours)
    received = at(2026, 9, 30, 10)
    # 5 working days from Sep 30: Oct 8, 9, Saturday 10 (调休), 12, 13 -> Oct 13 18:00
    assert reply_deadline(received, sub, bureau()) == Deadline(at(2026, 10, 13, 18), False)
    assert handling_deadline(received, sub, bureau()) == Deadline(
        bureau().add_working_hours(received, sub.time_limit_hours), False
    )
    assert reply_deadline(received, TimeLimit.hours(3), bureau()).at == at(2026, 9, 30, 15, 30)
    # a subclass's own reply limit, in hours; the file's default in hours
    raw: dict[str, Any] = {
        "reply_limit_hours": 16,
        "classes": [
            {
                "code": "01",
                "name": "市容环境",
                "subclasses": [
                    {**_sub("0101"), "reply_limit_days": 2},
                    _sub("0102"),
                ],
            }
        ],
    }
    cat = parse_catalogue(raw)
    assert cat.subclass("0101").reply_limit == TimeLimit.days(2)
    assert cat.subclass("0102").reply_limit == TimeLimit.hours(16)
    assert cat.as_dict()["classes"][0]["subclasses"][1]["reply_limit_hours"] == 16
    assert reply_deadline(received, cat.subclass("0101"), bureau()).at == at(2026, 10, 9, 18)
    raw["classes"][0]["subclasses"][1]["reply_limit_hours"] = 4
    raw["classes"][0]["subclasses"][1]["reply_limit_days"] = 1
    with pytest.raises(CatalogueError, match="not both"):
        parse_catalogue(raw)
    with pytest.raises(CatalogueError, match=r"holidays\.toml"):
        parse_catalogue({**raw, "calendar": {"periods": ["08:30-12:00"]}})


def _sub(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": "暴露垃圾",
        "tier": "minor",
        "time_limit_hours": 4,
        "duplicate_radius_m": 50,
        "duplicate_window_hours": 24,
        "department": "D02",
    }


# ------------------------------------------------ coverage, warnings, CLI


def test_warnings_name_this_and_next_year(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cal = bureau()
    assert calendar_warnings(date(2025, 6, 1), cal) == []  # 2025 and 2026 are known
    found = calendar_warnings(date(FAR, 6, 1), cal)
    assert [w.split(" is not covered")[0] for w in found] == [
        f"calendar: {FAR} (this year)",
        f"calendar: {FAR + 1} (next year)",
    ]
    assert "provisional" in found[0] and "data/holidays.toml" in found[0]
    done = load_calendar(write_calendar(tmp_path, f"complete_years = [{FAR}, {FAR + 1}]\n"))
    assert calendar_warnings(date(FAR, 6, 1), done) == []
    with caplog.at_level(logging.WARNING, logger="cases.calendar"):
        assert log_calendar_warnings(date(FAR, 6, 1), cal) == found
    assert [r.getMessage() for r in caplog.records] == found
    report = calendar_coverage(date(FAR, 6, 1), done)
    assert FAR in report.covered_years and 2026 in report.covered_years
    assert report.complete_years == (FAR, FAR + 1) and report.warnings == ()


def test_grid_calendar_check(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["calendar", "check", "--file", str(SHIPPED), "--today", "2025-06-01"])
    assert res.exit_code == 0, res.output
    assert "Asia/Shanghai" in res.stdout and "08:30-12:00, 14:30-18:00" in res.stdout
    assert "2001-20" in res.stdout and "ok: 2025 and 2026 are covered" in res.stdout
    assert "warning" not in res.output
    res = runner.invoke(
        app, ["calendar", "check", "--file", str(SHIPPED), "--today", f"{FAR}-06-01"]
    )
    assert res.exit_code == 0
    assert f"warning: calendar: {FAR} (this year) is not covered" in res.stderr
    assert f"{FAR + 1} (next year) is not covered" in res.stderr
    res = runner.invoke(
        app, ["calendar", "check", "--file", str(SHIPPED), "--today", f"{FAR}-06-01", "--strict"]
    )
    assert res.exit_code == 4 and "warning" in res.stderr
    path = write_calendar(tmp_path, f"complete_years = [{FAR}]\nholidays = [{FAR}-10-01]\n")
    res = runner.invoke(
        app, ["calendar", "check", "--file", str(path), "--today", f"{FAR}-06-01", "--json"]
    )
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["complete_years"] == [FAR] and FAR in data["covered_years"]
    assert data["table_days"] == {str(FAR): {"holidays": 1, "workdays": 0}}
    assert len(data["warnings"]) == 1 and f"{FAR + 1} (next year)" in data["warnings"][0]
    (tmp_path / "broken").mkdir()
    broken = write_calendar(tmp_path / "broken", 'weekdays = ["someday"]\n')
    res = runner.invoke(app, ["calendar", "check", "--file", str(broken)])
    assert res.exit_code == 1 and "weekdays" in res.stderr
    res = runner.invoke(app, ["calendar", "check", "--today", "tomorrow"])
    assert res.exit_code == 2 and "not a date" in res.stderr


def test_limit_arrays_per_subclass() -> None:
    catalogue = load_catalogue(ROOT / "data" / "catalogue.toml")
    amounts, in_days = limit_arrays([s.reply_limit for s in catalogue.subclasses])
    assert (amounts == 5).all() and in_days.all()
    starts = np.array(["2026-09-30T02:00"], "datetime64[us]")  # 10:00 Shanghai
    got = bureau().deadline_many(starts, amounts[:1], in_days[:1])
    assert got.at[0] == np.datetime64("2026-10-13T10:00", "us") and not got.provisional[0]
