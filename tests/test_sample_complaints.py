"""The generated sample complaints: deterministic, every class, rhythm; loads never double."""

from __future__ import annotations

import traceback
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cases.catalogue import load_catalogue
from sample import complaints as sc

# Far in the past: these cases can never be duplicates of anything another test posts now.
TODAY = date(2024, 6, 1)


@pytest.fixture(scope="module")
def layout(engine: Engine) -> sc.SampleLayout:
    from sample.seed import load_sample

    load_sample(engine)
    return sc.read_layout(engine)


@pytest.fixture(scope="module")
def year(layout: sc.SampleLayout) -> dict[str, sc.Rows]:
    return sc.generate_days(layout, date(2023, 6, 1), date(2024, 5, 31))


def test_same_days_same_rows_whatever_the_window(engine: Engine, layout: sc.SampleLayout) -> None:
    again = sc.read_layout(engine)
    assert again.hot_spots == layout.hot_spots
    assert list(again.outside_lon) == list(layout.outside_lon)
    a = sc.generate_days(layout, date(2024, 1, 1), date(2024, 1, 6))
    b = sc.generate_days(layout, date(2024, 1, 1), date(2024, 1, 6))
    assert a == b
    first = sc.generate_days(layout, date(2024, 1, 1), date(2024, 1, 3))
    second = sc.generate_days(layout, date(2024, 1, 4), date(2024, 1, 6))
    for channel in sc.CHANNELS:
        joined = sc.Rows()
        joined.extend(first[channel])
        joined.extend(second[channel])
        assert joined == a[channel]
    other_seed = sc.generate_days(layout, date(2024, 1, 1), date(2024, 1, 6), seed=7)
    assert other_seed != a


def test_a_year_covers_every_class_with_rhythm(year: dict[str, sc.Rows]) -> None:
    rows = sc.Rows()
    for channel in sc.CHANNELS:
        rows.extend(year[channel])
    n = len(rows)
    assert 30_000 <= n <= 60_000
    assert 0.10 < len(year["gcj02"]) / n < 0.20
    counts = Counter(rows.subclass)
    catalogue = load_catalogue()
    assert set(counts) == {s.code for s in catalogue.subclasses}
    assert min(counts.values()) >= 50

    def month(i: int) -> int:
        return int(rows.reported_at[i][5:7])

    by_code = {s.name: s.code for s in catalogue.subclasses}
    storm_codes = {by_code[name] for name in ("路面塌陷", "树木倒伏", "积水内涝")}
    storms = [month(i) for i in range(n) if rows.subclass[i] in storm_codes]
    assert sum(4 <= m <= 9 for m in storms) > 0.75 * len(storms)

    # Street vending: more per weekend day than per weekday; peaks around the festival.
    vending = [i for i in range(n) if rows.subclass[i] == by_code["占道经营"]]
    days = [date.fromisoformat(rows.reported_at[i][:10]) for i in vending]
    weekend = sum(d.weekday() >= 5 for d in days) / 2
    weekday = sum(d.weekday() < 5 for d in days) / 5
    assert weekend > 1.2 * weekday
    festival = sum(date(2024, 1, 21) <= d <= date(2024, 2, 25) for d in days) / 36
    autumn = sum(date(2023, 10, 10) <= d <= date(2023, 11, 14) for d in days) / 36
    assert festival > 1.5 * autumn
    # Construction noise: fewer at weekends.
    noise = [rows.reported_at[i][:10] for i in range(n) if rows.subclass[i] == by_code["施工扰民"]]
    nd = [date.fromisoformat(d) for d in noise]
    assert sum(d.weekday() >= 5 for d in nd) / 2 < sum(d.weekday() < 5 for d in nd) / 5

    # A few outside the district, a few with an address only; descriptions name places.
    assert 0.001 < sum(lon is None for lon in rows.lon) / n < 0.02
    assert all(rows.description)


def test_hot_spots_are_named_inside_the_district(layout: sc.SampleLayout) -> None:
    kinds = Counter(s.kind for s in layout.hot_spots)
    assert set(kinds) == set(sc.KINDS)
    names = [s.name for s in layout.hot_spots]
    assert len(set(names)) == len(names)
    assert any(n.endswith("菜市场") for n in names) and any("工地" in n for n in names)


def test_load_twice_same_day_then_a_later_day(engine: Engine, tmp_path: Path) -> None:
    seed = 90001
    first = sc.load_sample_complaints(engine, today=TODAY, days=10, out_dir=tmp_path, seed=seed)
    names = sorted(p.name for p, _ in first.files)
    assert names == [
        f"sample-complaints-{seed}-gcj02-20240522-20240531.csv",
        f"sample-complaints-{seed}-wgs84-20240522-20240531.csv",
    ]
    assert first.cases > 800
    for _, res in first.files:
        assert res.invalid == 0 and not res.already_assigned
        assert res.located > 0.9 * res.cases

    def count() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM case_file WHERE external_ref LIKE :p"),
                    {"p": f"sample-complaints-{seed}-%"},
                ).scalar_one()
            )

    assert count() == first.cases
    again = sc.load_sample_complaints(engine, today=TODAY, days=10, out_dir=tmp_path, seed=seed)
    assert again.files == [] and again.cases == 0 and count() == first.cases
    # The files themselves, assigned again, are recognised too.
    from cases.bulk import assign_file

    for path, _ in first.files:
        assert assign_file(engine, path, path.name.split("-")[3]).already_assigned

    later = sc.load_sample_complaints(
        engine, today=date(2024, 6, 3), days=10, out_dir=tmp_path, seed=seed
    )
    assert sorted(p.name for p, _ in later.files) == [
        f"sample-complaints-{seed}-gcj02-20240601-20240602.csv",
        f"sample-complaints-{seed}-wgs84-20240601-20240602.csv",
    ]
    assert count() == first.cases + later.cases
    with engine.connect() as conn:
        span = conn.execute(
            sa.text(
                "SELECT min(reported_at AT TIME ZONE 'Asia/Shanghai')::date, "
                "max(reported_at AT TIME ZONE 'Asia/Shanghai')::date FROM case_file "
                "WHERE external_ref LIKE :p"
            ),
            {"p": f"sample-complaints-{seed}-%"},
        ).one()
    assert tuple(span) == (date(2024, 5, 22), date(2024, 6, 2))


def test_demo_twice_doubles_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridcli.main import app

    monkeypatch.setattr(sc, "today_cst", lambda: date(2024, 3, 1))
    monkeypatch.setattr(sc, "WINDOW_DAYS", 5)
    monkeypatch.setattr(sc, "OUT_DIR", tmp_path)
    monkeypatch.setattr(sc, "SEED", 90002)
    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--no-serve"])
    assert res.exit_code == 0, res.output + "".join(traceback.format_exception(*res.exc_info))
    assert "current layout" in res.output and "where sample points land" in res.output
    assert "江海区" in res.output and "gcj02" in res.output
    assert "sample-complaints-90002-wgs84-20240225-20240229.csv" in res.output.replace("\n", "")

    def count() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM case_file WHERE external_ref LIKE :p"),
                    {"p": "sample-complaints-90002-%"},
                ).scalar_one()
            )

    n = count()
    assert n > 300
    res = runner.invoke(app, ["demo", "--no-serve"])
    assert res.exit_code == 0, res.output
    assert "already loaded" in res.output and count() == n
