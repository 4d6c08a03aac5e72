"""Cases counted per grid and per grid-month, and their hot spots.

The analysts' questions (where do problems concentrate, and which clusters
are new or growing) start from counts of cases: `count_by_grid` and
`count_by_grid_month` make them with one grouped SQL statement each (bound
parameters, no per-row work), and `hotspots` / `emerging_hotspots` hand them
to gis.hotspots (Getis-Ord Gi*, emerging hot spots).

What is counted:
- grids are those of the current layout generation, by code. A case keeps the
  grid row it was located in; cases located in an older generation count for
  the current grid with the same code (codes are the identity that survives
  across generations). Cases whose grid code no longer exists are not on the
  map; their number is reported in `attrs["cases_in_retired_grids"]`, so none
  is lost silently;
- dates are calendar days in Asia/Shanghai, both ends included (`date_to`
  defaults to today there, `date_from` to a year before it);
- by default every case with a grid except `duplicate` ones: a complaint merged
  into an open case of the same problem adds no problem (ask for
  `status="duplicate"` to count them);
- `subdistrict` restricts the analysis to that subdistrict's grids in the
  current layout (its own neighbourhoods, its own mean), not only the cases.

Bad filters raise `InvalidFilter` (an InvalidInput, so the API answers 422,
and a ValueError) naming the field as the API names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases.catalogue import CATALOGUE_FILE, load_catalogue
from cases.errors import InvalidInput, NotFound
from cases.models import CASE_STATUSES, TIERS
from gis.hotspots import (
    PERMUTATIONS,
    SEED,
    GridWeights,
    NoLayout,
    emerging_table,
    grid_weights,
    hotspot_table,
)
from gis.settings import Settings, get_settings

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MAX_WINDOW_DAYS = 3 * 366
"""The widest date window for counts and hot spots (three years)."""
DEFAULT_WINDOW_DAYS = 365
MIN_MONTHS = 3
MAX_MONTHS = 36
DEFAULT_MONTHS = 12

_CLASS_CODE = re.compile(r"^[0-9]{2}$")
_SUBDISTRICT_CODE = re.compile(r"^[0-9]{9}$")


class InvalidFilter(InvalidInput, ValueError):
    """A filter that cannot be applied; `field` names it as the API does."""


@dataclass(frozen=True)
class CaseFilters:
    """Which cases to count. Dates are Asia/Shanghai calendar days, both included.

    Strings may come straight from a query string: they are stripped, and an
    empty one means "no filter". Dates may be `date`s or ISO strings.
    """

    date_from: date | str | None = None
    date_to: date | str | None = None
    class_code: str | None = None
    subclass: str | None = None
    subdistrict: str | None = None
    status: str | None = None
    tier: str | None = None


@dataclass(frozen=True)
class _Checked:
    since: datetime
    until: datetime
    first_day: date
    last_day: date
    subclasses: tuple[str, ...] | None
    subdistrict: str | None
    status: str | None
    tier: str | None


def today_local() -> date:
    """Today in Asia/Shanghai."""
    return datetime.now(LOCAL_TZ).date()


def _text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFilter(f"{field} must be text", field=field)
    value = value.strip()
    if len(value) > 32:
        raise InvalidFilter(f"{field} is too long", field=field)
    return value or None


def _day(value: object, field: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        raise InvalidFilter(f"{field} is a calendar day, e.g. 2024-05-31", field=field)
    text = _text(value, field)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidFilter(
            f"{field} must be a date as YYYY-MM-DD, e.g. 2024-05-31", field=field
        ) from None


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


def _check(
    filters: CaseFilters,
    weights: GridWeights,
    settings: Settings,
    *,
    first_day: date | None,
    last_day: date,
) -> _Checked:
    """Validate the non-date filters against the catalogue and the current layout."""
    subclasses: tuple[str, ...] | None = None
    class_code = _text(filters.class_code, "class")
    subclass = _text(filters.subclass, "subclass")
    if class_code is not None or subclass is not None:
        catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
        if class_code is not None:
            found = next((c for c in catalogue.classes if c.code == class_code), None)
            if found is None or not _CLASS_CODE.fullmatch(class_code):
                codes = ", ".join(c.code for c in catalogue.classes)
                raise InvalidFilter(
                    f"unknown class {class_code!r}: use one of {codes}", field="class"
                )
            subclasses = tuple(s.code for s in found.subclasses)
        if subclass is not None:
            try:
                sub = catalogue.subclass(subclass)
            except InvalidInput as exc:
                raise InvalidFilter(exc.message, field="subclass") from None
            if subclasses is not None and sub.code not in subclasses:
                raise InvalidFilter(
                    f"subclass {sub.code} ({sub.name}) is not in class {class_code}",
                    field="subclass",
                )
            subclasses = (sub.code,)
    subdistrict = _text(filters.subdistrict, "subdistrict")
    if subdistrict is not None:
        known = set(weights.grids["subdistrict_code"].dropna())
        if not _SUBDISTRICT_CODE.fullmatch(subdistrict) or subdistrict not in known:
            raise InvalidFilter(
                f"unknown subdistrict {subdistrict!r}: use the 9-digit code of one of the "
                f"{len(known)} subdistricts of the current layout",
                field="subdistrict",
            )
    status = _text(filters.status, "status")
    if status is not None and status not in CASE_STATUSES:
        raise InvalidFilter(
            f"unknown status {status!r}: use one of {', '.join(CASE_STATUSES)}", field="status"
        )
    tier = _text(filters.tier, "tier")
    if tier is not None and tier not in TIERS:
        raise InvalidFilter(f"unknown tier {tier!r}: use one of {', '.join(TIERS)}", field="tier")
    start = first_day if first_day is not None else last_day
    return _Checked(
        since=_local_midnight(start),
        until=_local_midnight(last_day + timedelta(days=1)),
        first_day=start,
        last_day=last_day,
        subclasses=subclasses,
        subdistrict=subdistrict,
        status=status,
        tier=tier,
    )


def _date_window(filters: CaseFilters) -> tuple[date, date]:
    """(first day, last day) of a count or hot-spot window, checked."""
    last = _day(filters.date_to, "to") or today_local()
    first = _day(filters.date_from, "from") or last - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    if first > last:
        raise InvalidFilter(f"from ({first}) is after to ({last})", field="from")
    days = (last - first).days + 1
    if days > MAX_WINDOW_DAYS:
        raise InvalidFilter(
            f"the window from {first} to {last} is {days} days; at most {MAX_WINDOW_DAYS} "
            "(three years)",
            field="from",
        )
    return first, last


def month_window(months: object, filters: CaseFilters) -> list[date]:
    """First days of the `months` whole months ending by `to` (default: today)."""
    if isinstance(months, bool) or not isinstance(months, int):
        raise InvalidFilter("months must be a whole number", field="months")
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise InvalidFilter(
            f"months must be between {MIN_MONTHS} and {MAX_MONTHS}, got {months}",
            field="months",
        )
    if _day(filters.date_from, "from") is not None:
        raise InvalidFilter("emerging hot spots take `months` (and `to`), not `from`", field="from")
    last = _day(filters.date_to, "to") or today_local()
    # The last month is the last one that has ended by `to` (a partial month
    # would look like a drop in every grid).
    end = last.replace(day=1)
    if (last + timedelta(days=1)).month == last.month:
        end = (end - timedelta(days=1)).replace(day=1)
    first_index = end.year * 12 + end.month - 1 - (months - 1)
    return [date((first_index + k) // 12, (first_index + k) % 12 + 1, 1) for k in range(months)]


def _where(checked: _Checked) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (fixed fragments) and its bound parameters."""
    clauses = ["reported_at >= :since", "reported_at < :until", "grid_code IS NOT NULL"]
    params: dict[str, Any] = {"since": checked.since, "until": checked.until}
    if checked.subclasses is not None:
        clauses.append("subclass_code = ANY(:subclasses)")
        params["subclasses"] = list(checked.subclasses)
    if checked.status is None:
        clauses.append("status <> 'duplicate'")
    else:
        clauses.append("status = :status")
        params["status"] = checked.status
    if checked.tier is not None:
        clauses.append("tier = :tier")
        params["tier"] = checked.tier
    return " AND ".join(clauses), params


def _frame(result: sa.CursorResult[Any], columns: list[str]) -> pd.DataFrame:
    """A result as a DataFrame, column by column (row objects are slow to convert)."""
    values = list(zip(*result.tuples(), strict=False)) or [()] * len(columns)
    return pd.DataFrame(dict(zip(columns, values, strict=True)))


def _weights(engine: Engine) -> GridWeights:
    try:
        return grid_weights(engine)
    except NoLayout as exc:
        raise NotFound(str(exc)) from None


def _area(weights: GridWeights, checked: _Checked) -> GridWeights:
    if checked.subdistrict is None:
        return weights
    return weights.subset(weights.grids["subdistrict_code"].to_numpy() == checked.subdistrict)


def _meta(checked: _Checked, filters: CaseFilters, retired: int) -> dict[str, Any]:
    return {
        "from": checked.first_day.isoformat(),
        "to": checked.last_day.isoformat(),
        "timezone": str(LOCAL_TZ),
        "class": _text(filters.class_code, "class"),
        "subclass": _text(filters.subclass, "subclass"),
        "subdistrict": checked.subdistrict,
        "status": checked.status or "all but duplicate",
        "tier": checked.tier,
        "cases_in_retired_grids": retired,
    }


def _grid_counts(
    engine: Engine, filters: CaseFilters, settings: Settings
) -> tuple[GridWeights, np.ndarray, dict[str, Any]]:
    first, last = _date_window(filters)
    weights = _weights(engine)
    checked = _check(filters, weights, settings, first_day=first, last_day=last)
    where, params = _where(checked)
    sql = sa.text(
        f"SELECT grid_code, count(*) AS n FROM case_file WHERE {where} GROUP BY grid_code"
    )
    with engine.connect() as conn:
        rows = _frame(conn.execute(sql, params), ["grid_code", "n"])
    retired = int(rows.loc[~rows["grid_code"].isin(weights.codes), "n"].sum())
    area = _area(weights, checked)
    counts = rows.set_index("grid_code")["n"].reindex(area.codes, fill_value=0).to_numpy(np.int64)
    return area, counts, _meta(checked, filters, retired)


def count_by_grid(
    engine: Engine, filters: CaseFilters | None = None, *, settings: Settings | None = None
) -> pd.DataFrame:
    """Cases per grid of the current layout (every grid, zeros included), by code.

    Columns grid_code, count; `attrs` holds the window and filters as applied
    and `cases_in_retired_grids`.
    """
    area, counts, meta = _grid_counts(engine, filters or CaseFilters(), settings or get_settings())
    out = pd.DataFrame({"grid_code": area.codes, "count": counts})
    out.attrs.update(meta)
    return out


def _month_counts(
    engine: Engine, months: object, filters: CaseFilters, settings: Settings
) -> tuple[GridWeights, np.ndarray, list[date], dict[str, Any]]:
    periods = month_window(months, filters)
    weights = _weights(engine)
    after_last = date(periods[-1].year + periods[-1].month // 12, periods[-1].month % 12 + 1, 1)
    checked = _check(
        filters,
        weights,
        settings,
        first_day=periods[0],
        last_day=after_last - timedelta(days=1),
    )
    where, params = _where(checked)
    sql = sa.text(
        "SELECT grid_code, CAST(EXTRACT(YEAR FROM t) * 12 + EXTRACT(MONTH FROM t) - 1 AS integer) "
        "AS month, count(*) AS n FROM (SELECT grid_code, reported_at AT TIME ZONE 'Asia/Shanghai' "
        f"AS t FROM case_file WHERE {where}) c GROUP BY 1, 2"
    )
    with engine.connect() as conn:
        rows = _frame(conn.execute(sql, params), ["grid_code", "month", "n"])
    area = _area(weights, checked)
    retired = int(rows.loc[~rows["grid_code"].isin(weights.codes), "n"].sum())
    matrix = np.zeros((area.n, len(periods)), dtype=np.int64)
    if len(rows):
        grid_index = pd.Index(area.codes).get_indexer(pd.Index(rows["grid_code"]))
        first = periods[0].year * 12 + periods[0].month - 1
        month_index = rows["month"].to_numpy(np.int64) - first
        month_index[(month_index < 0) | (month_index >= len(periods))] = -1
        ok = (grid_index >= 0) & (month_index >= 0)
        np.add.at(matrix, (grid_index[ok], month_index[ok]), rows["n"].to_numpy()[ok])
    meta = _meta(checked, filters, retired)
    # Per month, so that a reader sees a month with little data (a sample that
    # starts mid-month, an outage) before reading its trend.
    meta["cases_per_month"] = {
        d.isoformat(): int(v) for d, v in zip(periods, matrix.sum(0), strict=True)
    }
    return area, matrix, periods, meta


def count_by_grid_month(
    engine: Engine,
    months: int = DEFAULT_MONTHS,
    filters: CaseFilters | None = None,
    *,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Cases per grid and month: one row per grid, one column per month (its first day).

    The months are the `months` whole months (Asia/Shanghai) ending by
    `filters.date_to` (default today): a month still running is left out.
    """
    area, matrix, periods, meta = _month_counts(
        engine, months, filters or CaseFilters(), settings or get_settings()
    )
    out = pd.DataFrame(matrix, columns=pd.Index(periods, name="month"))
    out.insert(0, "grid_code", area.codes)
    out.attrs.update(meta)
    return out


def hotspots(
    engine: Engine,
    filters: CaseFilters | None = None,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* hot and cold spots of the filtered cases, one row per grid.

    Columns grid_code, count, gi_z, p_value, hotspot_class, label (and p_norm,
    p_sim, island, geometry); see gis.hotspots.hotspot_table. `attrs` names
    the FDR method and the filters applied.
    """
    filters = filters or CaseFilters()
    area, counts, meta = _grid_counts(engine, filters, settings or get_settings())
    table = hotspot_table(area, counts, permutations=permutations, seed=seed)
    table.attrs.update(meta)
    return table


def emerging_hotspots(
    engine: Engine,
    months: int = DEFAULT_MONTHS,
    filters: CaseFilters | None = None,
    *,
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """Emerging hot-spot pattern per grid over the last `months` whole months.

    Columns grid_code, pattern, label (and hot_bins, cold_bins, trend_z,
    trend_p, final_z, island, geometry); see gis.hotspots.emerging_table.
    `attrs["cases_per_month"]` shows the data behind each month: a month with
    far fewer cases (data starting mid-month) reads as a fall in every grid
    and shifts the patterns, so choose `months` and `to` to avoid it.
    """
    area, matrix, periods, meta = _month_counts(
        engine, months, filters or CaseFilters(), settings or get_settings()
    )
    table = emerging_table(area, matrix, periods)
    table.attrs.update(meta)
    table.attrs["months"] = len(periods)
    return table
