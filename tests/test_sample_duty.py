"""The sample duty (sample.duty): two weeks of generated shifts, check-ins and
patrols on the sample district, checked against the duty rules, and a rerun."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.errors import Conflict
from cases.stations.compliance import weekly_compliance
from cases.stations.shifts import ShiftIn, plan_shifts
from cases.stations.weeks import LOCAL_TZ, Week
from gis.settings import Settings
from sample.duty import SOURCE, DutyLoad, load_sample_duty

TODAY = date(2026, 11, 4)  # a Wednesday: the window is 2026-10-21 .. 2026-11-03
FULL_WEEK = Week(2026, 44)  # Monday 2026-10-26 .. Sunday 2026-11-01, inside the window


@pytest.fixture(scope="module")
def loaded(
    engine: Engine, owner_engine: Engine, settings: Settings, sample_layout_module: int
) -> DutyLoad:
    """Two weeks of sample duty, loaded once for the module onto empty duty tables.

    Earlier tests (the demo's year of duty among them) leave shifts behind; the
    loader skips any shift overlapping a live one, so it starts from nothing here.
    """
    with owner_engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE duty_shift, duty_check, patrol, patrol_grid CASCADE"))
    return load_sample_duty(engine, today=TODAY, days=14, settings=settings)


@pytest.fixture(scope="module")
def sample_layout_module(engine: Engine, settings: Settings) -> int:
    """The sample district, current (module scope: the load above needs it)."""
    from sample.seed import load_sample

    return load_sample(engine, settings=settings).generation


def test_every_officer_holds_half_a_day_at_their_station_each_week(
    engine: Engine, settings: Settings, loaded: DutyLoad
) -> None:
    assert loaded.first == date(2026, 10, 21) and loaded.last == date(2026, 11, 3)
    with engine.connect() as conn:
        missing = conn.execute(
            sa.text("""
            SELECT o.code FROM officer o
            WHERE o.active AND o.role = 'officer' AND o.station_code IS NOT NULL
              AND NOT EXISTS (
                SELECT 1 FROM duty_shift s
                WHERE s.officer_code = o.code AND s.station_code = o.station_code
                  AND s.created_by = :src AND s.cancelled_at IS NULL
                  AND s.during <@ tstzrange(:lo, :hi, '[)')
                  AND upper(s.during) - lower(s.during) >= make_interval(hours => 4))
            """),
            {"src": SOURCE, "lo": FULL_WEEK.start, "hi": FULL_WEEK.end},
        ).all()
        overlaps = conn.execute(
            sa.text("""
            SELECT count(*) FROM duty_shift a JOIN duty_shift b
              ON a.officer_code = b.officer_code AND a.id < b.id AND a.during && b.during
            WHERE a.cancelled_at IS NULL AND b.cancelled_at IS NULL
            """)
        ).scalar_one()
    assert missing == []
    assert overlaps == 0
    assert loaded.shifts > 0 and loaded.checks > loaded.shifts and loaded.patrols > 0


def test_compliance_mostly_met_with_a_few_shortfalls_and_flagged_checks(
    engine: Engine, settings: Settings, loaded: DutyLoad
) -> None:
    report = weekly_compliance(engine, FULL_WEEK, settings=settings)
    stationed = [r for r in report.rows if r.stationed]
    met = sum(r.meets_rule for r in stationed)
    assert len(stationed) > 300
    assert 0.7 * len(stationed) < met < len(stationed)  # most, not all
    assert report.shortfalls
    assert sum(r.flagged_checks for r in stationed) > 0
    with engine.connect() as conn:
        flagged = conn.execute(
            sa.text(
                "SELECT flag, counts, distance_m, in_community FROM duty_check "
                "WHERE recorded_by = :src AND flag <> 'ok'"
            ),
            {"src": SOURCE},
        ).all()
        ok_far = conn.execute(
            sa.text(
                "SELECT count(*) FROM duty_check WHERE recorded_by = :src AND flag = 'ok' "
                "AND distance_m > :r AND NOT in_community"
            ),
            {"src": SOURCE, "r": settings.duty_checkin_radius_m},
        ).scalar_one()
    assert flagged and all(f.flag == "outside" for f in flagged)
    assert all(f.distance_m > settings.duty_checkin_radius_m for f in flagged)
    assert all(not f.in_community for f in flagged)
    assert ok_far == 0


def test_patrol_tracks_lie_in_the_station_community(engine: Engine, loaded: DutyLoad) -> None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""
            SELECT count(*) AS n,
                   count(*) FILTER (WHERE ST_CoveredBy(p.track, ST_Buffer(c.geom, 1e-7)))
                       AS inside,
                   min(p.coverage) AS lo, max(p.coverage) AS hi,
                   count(*) FILTER (WHERE p.started_at < lower(s.during)
                                       OR p.ended_at > upper(s.during)) AS off_shift,
                   count(*) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM patrol_grid g WHERE g.patrol_id = p.id)) AS no_grid
            FROM patrol p
            JOIN community c ON c.code = p.community_code AND c.generation_id = p.generation_id
            JOIN duty_shift s ON s.officer_code = p.officer_code
                             AND s.during @> p.started_at AND s.created_by = :src
            WHERE p.created_by = :src
            """),
            {"src": SOURCE},
        ).one()
    assert row.n == loaded.patrols
    assert row.inside == row.n
    assert 0 < row.lo <= row.hi <= 1
    assert row.off_shift == 0 and row.no_grid == 0


def test_rerun_adds_nothing_and_the_constraint_still_guards(
    engine: Engine, settings: Settings, loaded: DutyLoad
) -> None:
    counts = sa.text(
        "SELECT (SELECT count(*) FROM duty_shift), (SELECT count(*) FROM duty_check), "
        "(SELECT count(*) FROM patrol), (SELECT count(*) FROM patrol_grid)"
    )
    with engine.connect() as conn:
        before = conn.execute(counts).one()
    again = load_sample_duty(engine, today=TODAY, days=14, settings=settings)
    with engine.connect() as conn:
        after = conn.execute(counts).one()
        one = conn.execute(
            sa.text(
                "SELECT officer_code, station_code, lower(during) AS lo FROM duty_shift "
                "WHERE created_by = :src ORDER BY id LIMIT 1"
            ),
            {"src": SOURCE},
        ).one()
    assert (again.shifts, again.checks, again.patrols) == (0, 0, 0)
    assert tuple(after) == tuple(before)
    start = one.lo.astimezone(LOCAL_TZ) + timedelta(hours=1)
    with pytest.raises(Conflict):
        plan_shifts(
            engine,
            [
                ShiftIn(
                    officer_code=one.officer_code,
                    station_code=one.station_code,
                    start=start,
                    end=start + timedelta(hours=2),
                )
            ],
        )
