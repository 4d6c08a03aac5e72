"""Indicators of a place and a period, as the API, the CLI and the report show them.

`indicators()` checks the request (level, code, dates, scope), runs the one
statement of `cases.indicators.query`, and returns an `IndicatorSet`: every
indicator of `definitions.INDICATORS` by key, Chinese name, unit and value;
rates as percentages with two decimals (with their numerator and
denominator), None when the denominator is 0. `counts_by()` gives the raw
counts of many places at once (the monthly report's tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from cases.access import Principal
from cases.calendar import load_calendar
from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.indicators.definitions import INDICATORS, SATISFIED_FROM, Indicator, Level
from cases.indicators.period import Period, parse_period
from cases.indicators.places import Place, check_scope, parse_level, resolve_place
from cases.indicators.query import Counts, bind, statement
from gis.settings import Settings, get_settings


def _ratio(numerator: float, denominator: float, scale: float = 100.0) -> float | None:
    return None if denominator == 0 else round(scale * numerator / denominator, 2)


def value_of(ind: Indicator, counts: Counts) -> int | float | None:
    """The value of one indicator from a place's counts."""
    if ind.numerator is not None and ind.denominator is not None:
        return _ratio(counts.values[ind.numerator], counts.values[ind.denominator])
    if ind.key == "avg_handling_hours":
        return _ratio(counts.handling_hours_sum, counts.handling_n, 1.0)
    if ind.key == "avg_rating":
        return _ratio(counts.rating_sum, counts.values["evaluated"], 1.0)
    return counts.values[ind.key]


def values_of(counts: Counts) -> dict[str, int | float | None]:
    """Every indicator's value by key."""
    return {ind.key: value_of(ind, counts) for ind in INDICATORS}


@dataclass(frozen=True)
class IndicatorSet:
    """The indicators of one place in one period."""

    place: Place
    period: Period
    counts: Counts
    as_of: datetime

    @property
    def values(self) -> dict[str, int | float | None]:
        """Every indicator's value by key."""
        return values_of(self.counts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the place, the period, and the indicators in their order."""
        items = []
        for ind in INDICATORS:
            item: dict[str, Any] = {
                "key": ind.key,
                "name": ind.name,
                "unit": ind.unit,
                "value": value_of(ind, self.counts),
            }
            if ind.numerator is not None and ind.denominator is not None:
                item["numerator"] = self.counts.values[ind.numerator]
                item["denominator"] = self.counts.values[ind.denominator]
            items.append(item)
        return {
            **self.place.as_dict(),
            **self.period.as_dict(),
            "as_of": self.as_of.isoformat(),
            "indicators": items,
        }


def counts_by(
    conn: Connection,
    group: Level,
    period: Period,
    *,
    within: Place | None = None,
    settings: Settings | None = None,
) -> dict[str, Counts]:
    """The counts of every `group` place with cases in the period (of the cases of
    `within`, or of all), by code, in one statement. No scope check: for callers
    that checked it (the report)."""
    settings = settings or get_settings()
    calendar = load_calendar(settings.data_dir)
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    sql = statement(group, within.level if within else None)
    code = within.code if within else None
    params = bind(period, code, settings.home_district_code, calendar, catalogue, SATISFIED_FROM)
    rows = conn.execute(sql, params).mappings().all()
    return {str(r["place"]): Counts.from_row(r) for r in rows}


def place_for(
    conn: Connection,
    level: object,
    code: object,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> Place:
    """The place a request names, checked: level, code, and the principal's scope."""
    settings = settings or get_settings()
    lv = parse_level(level)
    place = resolve_place(conn, lv, code, settings.home_district_code)
    check_scope(principal, place)
    return place


def indicators(
    engine: Engine,
    level: object,
    code: object = None,
    date_from: object = None,
    date_to: object = None,
    *,
    principal: Principal | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> IndicatorSet:
    """The indicators of the place (`level`, `code`) over [date_from, date_to].

    InvalidInput naming the field (level, code, from, to) for bad input;
    Forbidden when the principal may not see the place's figures (None: the
    command line, everything).
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    period = parse_period(date_from, date_to, now=now)
    with engine.connect() as conn:
        place = place_for(conn, level, code, principal=principal, settings=settings)
        found = counts_by(conn, place.level, period, within=place, settings=settings)
    return IndicatorSet(place, period, found.get(place.code, Counts.empty()), min(now, period.end))
