"""Counts per grid and grid-month, hot spots and emerging hot spots, on the real database.

Cases go in through intake (cases.intake.submit_complaint), reported in 2017:
no other test files anything then, so the counts below are exactly ours. A
cluster of street-vending cases sits on one grid and its six neighbours in
March 2017; a grid far from it gets a few cases at the edges of the month (in
Asia/Shanghai time) and a duplicate that intake merges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from current_layout import grid_point
from sqlalchemy.engine import Engine

from cases.errors import InvalidInput
from cases.intake import ComplaintIn, submit_complaint
from cases.trends import (
    CaseFilters,
    InvalidFilter,
    count_by_grid,
    count_by_grid_month,
    emerging_hotspots,
    hotspots,
)
from gis.hotspots import FDR_METHOD, HOTSPOT_CLASSES, PATTERNS, GridWeights, grid_weights
from gis.settings import Settings

CST = ZoneInfo("Asia/Shanghai")
MARCH = CaseFilters(date_from="2017-03-01", date_to="2017-03-31")


@dataclass(frozen=True)
class Planted:
    weights: GridWeights
    centre: str
    neighbours: list[str]
    far: str
    subdistrict: str


def _submit(
    engine: Engine, settings: Settings, code: str, subclass: str, when: datetime
) -> tuple[int, str, str | None]:
    x, y = grid_point(engine, code)
    # Counted as filed: no repeat rule raising the tiers of the planted clusters.
    settings = settings.model_copy(update={"repeat_report_count": 1000})
    view = submit_complaint(
        engine,
        ComplaintIn(
            lon=x,
            lat=y,
            crs="wgs84",
            subclass=subclass,
            description="trends test 2017",
            reported_at=when,
        ),
        settings=settings,
    )
    return view.id, view.status, view.grid_code


@pytest.fixture(scope="module")
def planted(engine: Engine, settings: Settings) -> Planted:
    from sample.seed import load_sample

    load_sample(engine, settings=settings)
    weights = grid_weights(engine)
    card = weights.cardinalities
    centre_i = int(np.flatnonzero(card == 6)[len(card) // 4])
    ring = set(weights.adjacency[centre_i].indices.tolist())
    two_rings = ring | {j for i in ring for j in weights.adjacency[i].indices.tolist()}
    far_i = next(
        i for i in range(weights.n - 1, 0, -1) if card[i] >= 4 and i not in two_rings | {centre_i}
    )
    centre, far = str(weights.codes[centre_i]), str(weights.codes[far_i])
    neighbours = [str(weights.codes[j]) for j in sorted(ring)]
    start = datetime(2017, 3, 1, 10, 0, tzinfo=CST)
    k = 0
    for code, n in [(centre, 4)] + [(c, 3) for c in neighbours]:
        for _ in range(n):  # 12 hours apart: never duplicates (占道经营's window is 8 h)
            _, status, grid = _submit(
                engine, settings, code, "0401", start + timedelta(hours=12 * k)
            )
            assert (status, grid) == ("dispatched", code)
            k += 1
    # The far grid: at both edges of March in Shanghai time, and a duplicate.
    _submit(engine, settings, far, "0304", datetime(2017, 3, 31, 23, 30, tzinfo=CST))
    _submit(engine, settings, far, "0401", datetime(2017, 4, 1, 0, 30, tzinfo=CST))
    _submit(engine, settings, far, "0101", datetime(2017, 3, 20, 10, 0, tzinfo=CST))
    _, status, _ = _submit(engine, settings, far, "0101", datetime(2017, 3, 20, 10, 30, tzinfo=CST))
    assert status == "duplicate"
    subdistrict = str(weights.grids["subdistrict_code"].iloc[centre_i])
    return Planted(weights, centre, neighbours, far, subdistrict)


def _by_code(frame: object) -> dict[str, int]:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    return {str(c): int(n) for c, n in zip(frame["grid_code"], frame["count"], strict=True) if n}


def test_counts_per_grid_of_the_current_layout(engine: Engine, planted: Planted) -> None:
    counts = count_by_grid(engine, MARCH)
    assert len(counts) == planted.weights.n  # every grid, zeros included
    assert counts["grid_code"].tolist() == planted.weights.codes.tolist()
    expected = {planted.centre: 4, planted.far: 2, **{c: 3 for c in planted.neighbours}}
    assert _by_code(counts) == expected  # the merged duplicate is not a second problem
    assert counts.attrs["from"] == "2017-03-01" and counts.attrs["to"] == "2017-03-31"
    assert counts.attrs["cases_in_retired_grids"] == 0


def test_days_are_shanghai_calendar_days(engine: Engine, planted: Planted) -> None:
    # 2017-04-01 00:30 in Shanghai is still 31 March in UTC: it belongs to April.
    march = _by_code(
        count_by_grid(engine, CaseFilters(date_from="2017-03-31", date_to="2017-03-31"))
    )
    assert march == {planted.far: 1}
    april = _by_code(
        count_by_grid(engine, CaseFilters(date_from="2017-04-01", date_to="2017-04-30"))
    )
    assert april == {planted.far: 1}


def test_filters_by_subclass_class_tier_and_status(engine: Engine, planted: Planted) -> None:
    def total(**kw: str) -> dict[str, int]:
        return _by_code(count_by_grid(engine, CaseFilters("2017-03-01", "2017-03-31", **kw)))

    cluster = {planted.centre: 4, **{c: 3 for c in planted.neighbours}}
    assert total(subclass="0304") == {planted.far: 1}
    assert total(class_code="03") == {planted.far: 1}
    assert total(class_code="04") == cluster
    assert total(class_code="04", subclass="0401") == cluster
    assert total(tier="major") == {planted.far: 1}  # 私搭乱建 is major
    assert total(tier="minor") == {**cluster, planted.far: 1}
    assert total(status="duplicate") == {planted.far: 1}
    assert total(status="dispatched") == {**cluster, planted.far: 2}
    assert total(subclass=" 0401 ", status="", tier="") == cluster  # as a query string sends


def test_a_subdistrict_is_its_own_study_area(engine: Engine, planted: Planted) -> None:
    counts = count_by_grid(
        engine, CaseFilters("2017-03-01", "2017-03-31", subdistrict=planted.subdistrict)
    )
    mine = planted.weights.grids["subdistrict_code"] == planted.subdistrict
    assert len(counts) == int(mine.sum()) < planted.weights.n
    assert set(counts["grid_code"]) == set(planted.weights.grids.loc[mine, "code"])
    assert _by_code(counts)[planted.centre] == 4
    table = hotspots(
        engine, CaseFilters("2017-03-01", "2017-03-31", subdistrict=planted.subdistrict)
    )
    assert len(table) == len(counts)
    assert table.set_index("grid_code").loc[planted.centre, "hotspot_class"] == "hot_99"


def test_hot_spots_of_march(engine: Engine, planted: Planted) -> None:
    table = hotspots(engine, MARCH)
    assert len(table) == planted.weights.n
    assert table.attrs["fdr_method"] == FDR_METHOD and table.attrs["permutations"] == 999
    assert set(table["hotspot_class"]) <= set(HOTSPOT_CLASSES)
    row = table.set_index("grid_code").loc[planted.centre]
    assert row["count"] == 4 and row["gi_z"] > 5
    assert row["hotspot_class"] == "hot_99" and row["label"] == "热点（99% 置信度）"
    assert row["p_value"] <= 0.01 and row["p_sim"] == pytest.approx(0.001)
    by_code = table.set_index("grid_code")["hotspot_class"]
    assert all(by_code[c].startswith("hot_") for c in planted.neighbours)
    # Everywhere else there is nothing, and an empty grid is no cold spot among zeros.
    assert (table["hotspot_class"] == "not_significant").mean() > 0.9
    assert not table["hotspot_class"].str.startswith("cold").any()
    assert table.crs is not None and table.crs.to_epsg() == 4326
    # Same counts, same seed: the same answer.
    again = hotspots(engine, MARCH)
    assert again["p_sim"].equals(table["p_sim"])


def test_emerging_hot_spots_find_the_new_cluster(engine: Engine, planted: Planted) -> None:
    table = emerging_hotspots(engine, 3, CaseFilters(date_to="2017-03-31"))
    assert table.attrs["periods"] == ["2017-01-01", "2017-02-01", "2017-03-01"]
    assert set(table["pattern"]) <= set(PATTERNS)
    row = table.set_index("grid_code").loc[planted.centre]
    assert row["pattern"] == "new_hot" and row["label"] == "新增热点"
    assert (table["pattern"] == "no_pattern").mean() > 0.9
    # A month still running is left out: up to 15 April, the last whole month is March.
    mid_april = emerging_hotspots(engine, 3, CaseFilters(date_to="2017-04-15"))
    assert mid_april.attrs["periods"] == table.attrs["periods"]


def test_counts_per_grid_and_month(engine: Engine, planted: Planted) -> None:
    months = count_by_grid_month(engine, 3, CaseFilters(date_to="2017-04-30"))
    assert [d.isoformat() for d in months.columns[1:]] == ["2017-02-01", "2017-03-01", "2017-04-01"]
    far = months.set_index("grid_code").loc[planted.far].tolist()
    assert far == [0, 2, 1]
    assert months.set_index("grid_code").loc[planted.centre].tolist() == [0, 4, 0]
    march_total = 4 + 3 * len(planted.neighbours) + 2
    assert months.attrs["cases_per_month"] == {
        "2017-02-01": 0,
        "2017-03-01": march_total,
        "2017-04-01": 1,
    }
    assert int(months.iloc[:, 1:].to_numpy().sum()) == 4 + 3 * len(planted.neighbours) + 3


def test_cases_of_retired_grids_are_reported_not_lost(
    engine: Engine, settings: Settings, planted: Planted
) -> None:
    case_id, _, _ = _submit(
        engine, settings, planted.far, "0401", datetime(2017, 2, 10, 9, 0, tzinfo=CST)
    )
    # As if it had been located in a grid that a later layout no longer has.
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE case_file SET grid_code = '440703999999999' WHERE id = :i"),
            {"i": case_id},
        )
    feb = count_by_grid(engine, CaseFilters("2017-02-01", "2017-02-28"))
    assert feb["count"].sum() == 0
    assert feb.attrs["cases_in_retired_grids"] == 1
    months = count_by_grid_month(engine, 3, CaseFilters(date_to="2017-03-31"))
    assert months.attrs["cases_in_retired_grids"] == 1


def test_weights_are_cached_and_are_postgis_contiguity(engine: Engine, planted: Planted) -> None:
    weights = grid_weights(engine)
    assert grid_weights(engine) is weights
    with engine.connect() as conn:
        pairs = conn.execute(
            sa.text(
                "SELECT a.code, b.code FROM grid_cell a JOIN grid_cell b "
                "ON b.generation_id = a.generation_id AND b.code <> a.code "
                "AND ST_Intersects(a.geom, b.geom) WHERE a.generation_id = :g"
            ),
            {"g": weights.generation_id},
        ).all()
    coo = weights.adjacency.tocoo()
    mine = {(weights.codes[i], weights.codes[j]) for i, j in zip(coo.row, coo.col, strict=True)}
    assert mine == {(a, b) for a, b in pairs}


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (lambda e: count_by_grid(e, CaseFilters("2017-03-02", "2017-03-01")), "from", "after"),
        (lambda e: count_by_grid(e, CaseFilters("2010-01-01", "2017-03-01")), "from", "at most"),
        (lambda e: count_by_grid(e, CaseFilters("2017-3-1", "2017-03-31")), "from", "YYYY-MM-DD"),
        (lambda e: count_by_grid(e, CaseFilters(date_to="yesterday")), "to", "YYYY-MM-DD"),
        (lambda e: hotspots(e, CaseFilters(subclass="9999")), "subclass", "unknown subclass"),
        (lambda e: hotspots(e, CaseFilters(class_code="99")), "class", "unknown class"),
        (
            lambda e: hotspots(e, CaseFilters(class_code="01", subclass="0401")),
            "subclass",
            "not in class 01",
        ),
        (lambda e: hotspots(e, CaseFilters(subdistrict="440703999")), "subdistrict", "unknown"),
        (lambda e: hotspots(e, CaseFilters(subdistrict="<script>")), "subdistrict", "unknown"),
        (lambda e: hotspots(e, CaseFilters(status="lost")), "status", "unknown status"),
        (lambda e: hotspots(e, CaseFilters(tier="huge")), "tier", "unknown tier"),
        (lambda e: emerging_hotspots(e, 2), "months", "between 3 and 36"),
        (lambda e: emerging_hotspots(e, 37), "months", "between 3 and 36"),
        (lambda e: emerging_hotspots(e, "12"), "months", "whole number"),  # type: ignore[arg-type]
        (
            lambda e: emerging_hotspots(e, 12, CaseFilters(date_from="2017-01-01")),
            "from",
            "not `from`",
        ),
    ],
)
def test_bad_filters_are_named(engine: Engine, planted: Planted, call, field, words) -> None:
    with pytest.raises(InvalidFilter) as err:
        call(engine)
    assert err.value.field == field and words in err.value.message
    assert isinstance(err.value, InvalidInput) and isinstance(err.value, ValueError)
