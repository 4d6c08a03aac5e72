"""The monthly meeting report (月度例会报告): its figures, for a station, a squad
or the whole district and one finished month.

What it holds (`MonthlyReport`), all for the report's place:
- the indicators of the month beside the previous month and the same month a
  year before (cases.indicators), and per unit: per squad for the district,
  per station for a squad, per officer (post) for a station;
- problems by class and subclass (duplicates left out): the month, the
  previous month (环比) and the same month a year before (同比);
- recurring problems (倾向性问题): grids where one subclass came in this month
  and in at least `RECURRING_MONTHS` of the last `RECURRING_WINDOW` months, or
  `repeat_report_count` (the intake's repeat rule, 3) times or more in the month;
  and the subclasses rising fastest: this month against the mean of the
  three before, at least `RISING_MIN` cases this month, largest rise first;
- the overdue and escalated cases (cases.reports.data.overdue_cases), with
  reporters masked, and absent for roles that read no personal data;
- duty compliance of the month's weeks (ISO weeks whose Thursday is in the
  month, as ISO assigns weeks to months; cases.stations.compliance);
- the month's hot spots (Getis-Ord Gi*, cases.trends over the whole
  district, so the statistic has its neighbours), the place's grids drawn on
  an offline map (maps.hotspots, assets inline).

Who may ask (`check_report_scope`): leaders, the command centre, analysts
and admins any report; a squad leader their squad's and its stations'; an
officer their station's; the command line everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine

from cases.access import Principal
from cases.catalogue import CATALOGUE_FILE, Catalogue, load_catalogue
from cases.errors import Forbidden, InvalidInput
from cases.indicators import (
    INDICATORS,
    LEVEL_BY_KEY,
    Counts,
    Period,
    Place,
    counts_by,
    values_of,
)
from cases.indicators.places import resolve_place
from cases.ledgers.month import Month
from cases.ledgers.sheet import scrub
from cases.lifecycle.holders import HOLDER_LABELS
from cases.lifecycle.states import BY_CODE, TIER_LABELS
from cases.reports import data
from cases.reports.extras import Compliance, HotSpots, compliance_of, hotspots_of
from cases.reports.month import month_before, parse_report_month, year_before
from gis.privacy import decrypt, mask_name, mask_phone
from gis.settings import Settings, get_settings

RECURRING_WINDOW = 6
RECURRING_MONTHS = 3
RISING_MIN = 3
RISING_TOP = 10
OVERDUE_LIMIT = 300
LIST_LIMIT = 50
"""Recurring problems and hot grids listed at most (the report says how many in all)."""
UNIT_LEVEL = {"district": "squad", "squad": "station", "station": "officer"}
"""The units of each report's table of indicators: per squad, per station, per post."""


@dataclass(frozen=True)
class ClassRow:
    """Problems of one class or subclass: this month, the previous one, a year before."""

    code: str
    name: str
    level: str  # class | subclass
    this: int
    previous: int
    year_ago: int

    @property
    def mom(self) -> int:
        """Change on the previous month (环比)."""
        return self.this - self.previous

    @property
    def yoy(self) -> int:
        """Change on the same month a year before (同比)."""
        return self.this - self.year_ago

    @staticmethod
    def pct(change: int, base: int) -> float | None:
        """A change in percent of its base (None when the base is 0)."""
        return None if base == 0 else round(100.0 * change / base, 1)


@dataclass(frozen=True)
class Rising:
    """A subclass rising: this month against the mean of the three months before."""

    code: str
    name: str
    this: int
    before_mean: float

    @property
    def rise(self) -> float:
        """Cases more than the mean before."""
        return round(self.this - self.before_mean, 1)


@dataclass(frozen=True)
class Unit:
    """One unit's indicators (a squad, a station or an officer) in the month."""

    code: str
    name: str
    values: dict[str, int | float | None]


@dataclass
class MonthlyReport:
    """Everything the HTML and the .xlsx show (see the module docs)."""

    kind: str  # district | squad | station
    code: str
    name: str
    month: Month
    generated_at: datetime
    headline: list[tuple[str, str, str, Any, Any, Any]]  # key, name, unit, this, prev, year ago
    values: dict[str, int | float | None]
    units: list[Unit]
    unit_label: str
    classes: list[ClassRow]
    subclasses: list[ClassRow]
    recurring: list[data.Recurring]
    recurring_total: int
    rising: list[Rising]
    overdue: list[dict[str, Any]]
    overdue_total: int
    personal_data: bool
    compliance: Compliance
    hotspots: HotSpots
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The report's heading."""
        return f"{self.name}城管进社区月度例会报告（{self.month.title}）"

    @property
    def previous(self) -> Month:
        """The month before."""
        return month_before(self.month)

    @property
    def year_ago(self) -> Month:
        """The same month a year before."""
        return year_before(self.month)

    @property
    def slug(self) -> str:
        """For file names: monthly-report-2016-05-station-ST440703002003."""
        tail = "district" if self.kind == "district" else f"{self.kind}-{self.code}"
        return f"monthly-report-{self.month.label}-{tail}"


def period_of(month: Month) -> Period:
    """A month as an indicator period."""
    return Period(month.first_day, month.next_first_day - timedelta(days=1))


def check_report_scope(
    principal: Principal | None, kind: str, code: str, squad: str | None
) -> None:
    """Forbidden unless the principal may read this report (module docs)."""
    if principal is None or principal.rule.place == "all":
        return
    if principal.role == "squad_leader" and principal.squad_code is not None:
        if (kind == "squad" and code == principal.squad_code) or (
            kind == "station" and squad == principal.squad_code
        ):
            return
        raise Forbidden("a squad_leader reads the reports of their squad and its stations")
    if principal.role == "officer" and kind == "station" and code == principal.station_code:
        return
    raise Forbidden(f"a {principal.role} may not read this report")


def _scope(
    conn: Connection, station: str | None, squad: str | None, settings: Settings
) -> tuple[str, Place]:
    if station is not None and squad is not None:
        raise InvalidInput("give a station or a squad, not both", field="station")
    kind = "station" if station is not None else "squad" if squad is not None else "district"
    code = station if station is not None else squad
    try:
        place = resolve_place(conn, LEVEL_BY_KEY[kind], code, settings.home_district_code)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=kind) from None
    return kind, place


def _class_rows(
    counts: dict[tuple[str, int], int], catalogue: Catalogue, month: Month
) -> tuple[list[ClassRow], list[ClassRow]]:
    m0 = data.month_index(month)
    ms = (m0, m0 - 1, m0 - 12)
    classes: list[ClassRow] = []
    subclasses: list[ClassRow] = []
    by_class: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for sub in catalogue.subclasses:
        n = [counts.get((sub.code, m), 0) for m in ms]
        names[sub.class_code] = sub.class_name
        total = by_class.setdefault(sub.class_code, [0, 0, 0])
        for i in range(3):
            total[i] += n[i]
        if any(n):
            subclasses.append(ClassRow(sub.code, sub.name, "subclass", *n))
    for code, n in by_class.items():
        if any(n):
            classes.append(ClassRow(code, names[code], "class", *n))
    subclasses.sort(key=lambda r: (-r.this, r.code))
    return classes, subclasses


def _rising(counts: dict[tuple[str, int], int], catalogue: Catalogue, month: Month) -> list[Rising]:
    m0 = data.month_index(month)
    rows = []
    for sub in catalogue.subclasses:
        this = counts.get((sub.code, m0), 0)
        mean = sum(counts.get((sub.code, m0 - k), 0) for k in (1, 2, 3)) / 3
        if this >= RISING_MIN and this > mean:
            rows.append(Rising(sub.code, sub.name, this, round(mean, 1)))
    rows.sort(key=lambda r: (-r.rise, -r.this, r.code))
    return rows[:RISING_TOP]


def _subclass_name(catalogue: Catalogue, code: str) -> str:
    try:
        return catalogue.subclass(code).name
    except InvalidInput:
        return code  # a code since removed from the catalogue


def _case_rows(
    rows: list[dict[str, Any]], catalogue: Catalogue, settings: Settings, personal: bool
) -> list[dict[str, Any]]:
    """The overdue list as shown: names for codes, masked reporters (or none)."""
    out = []
    for r in rows:
        item = {
            "id": r["id"],
            "kind": data.OVERDUE_KINDS[r["kind"]],
            "subclass": _subclass_name(catalogue, r["subclass_code"]),
            "grid_code": r["grid_code"] or "",
            "reported_at": r["reported_at"],
            "first_due": r["first_due"],
            "closed_at": r["closed_at"],
            "status": BY_CODE[r["status"]].label if r["status"] in BY_CODE else r["status"],
            "tier": TIER_LABELS.get(r["tier"], r["tier"]),
            "holder": HOLDER_LABELS.get(r["holder_role"] or "", "")
            + (f" {r['holder_code']}" if r["holder_code"] else ""),
            "escalations": int(r["escalations"]),
            "description": scrub(r["description"])[:200],
        }
        if personal:
            name = decrypt(r["reporter_name_enc"], settings) if r["reporter_name_enc"] else None
            phone = decrypt(r["reporter_phone_enc"], settings) if r["reporter_phone_enc"] else None
            item["reporter"] = " ".join(x for x in (mask_name(name), mask_phone(phone)) if x)
        out.append(item)
    return out


def _units(
    conn: Connection, kind: str, place: Place, month: Month, settings: Settings
) -> tuple[list[Unit], str]:
    level = LEVEL_BY_KEY[UNIT_LEVEL[kind]]
    found = counts_by(conn, level, period_of(month), within=place, settings=settings)
    names = data.names_of(conn, level.key) if level.key in ("station", "squad") else {}
    units = [
        Unit(
            code, names.get(code, f"队员 {code}" if level.key == "officer" else code), values_of(c)
        )
        for code, c in sorted(found.items())
    ]
    return units, level.name


def build_monthly_report(
    engine: Engine,
    month: str | Month,
    *,
    station: str | None = None,
    squad: str | None = None,
    principal: Principal | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> MonthlyReport:
    """The report of a finished month for a station, a squad or (neither) the district.

    InvalidInput (field month, station or squad) for a month not finished, a
    station and a squad together, an unknown station or squad; Forbidden when
    the principal may not read it.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    which = month if isinstance(month, Month) else parse_report_month(month, now)
    catalogue = load_catalogue(settings.data_dir / CATALOGUE_FILE)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        kind, place = _scope(conn, station, squad, settings)
        parent = data.station_squad(conn, place.code) if kind == "station" else None
        check_report_scope(principal, kind, place.code, parent)
        column = place.level.column
        this, prev, ago = (
            counts_by(conn, place.level, period_of(m), within=place, settings=settings).get(
                place.code, Counts.empty()
            )
            for m in (which, month_before(which), year_before(which))
        )
        units, unit_label = _units(conn, kind, place, which, settings)
        months = data.subclass_months(conn, column, place.code, month_before(which, 12), which)
        recurring, recurring_total = data.recurring(
            conn,
            column,
            place.code,
            which,
            month_before(which, RECURRING_WINDOW - 1),
            min_months=RECURRING_MONTHS,
            min_in_month=settings.repeat_report_count,
            limit=LIST_LIMIT,
        )
        overdue, total = data.overdue_cases(conn, column, place.code, which, OVERDUE_LIMIT)
        communities = data.area_communities(conn, column, place.code)
    personal = principal is None or principal.rule.personal_data
    values = [values_of(c) for c in (this, prev, ago)]
    headline: list[tuple[str, str, str, Any, Any, Any]] = [
        (i.key, i.name, str(i.unit), values[0][i.key], values[1][i.key], values[2][i.key])
        for i in INDICATORS
    ]
    classes, subclasses = _class_rows(months, catalogue, which)
    last_day: date = which.next_first_day - timedelta(days=1)
    return MonthlyReport(
        kind=kind,
        code=place.code,
        name=place.name,
        month=which,
        generated_at=now,
        headline=headline,
        values=values[0],
        units=units,
        unit_label=unit_label,
        classes=classes,
        subclasses=subclasses,
        recurring=[
            replace(p, subclass_name=_subclass_name(catalogue, p.subclass_code)) for p in recurring
        ],
        recurring_total=recurring_total,
        rising=_rising(months, catalogue, which),
        overdue=_case_rows(overdue, catalogue, settings, personal),
        overdue_total=total,
        personal_data=personal,
        compliance=compliance_of(
            engine, which, kind, place.code, principal=principal, settings=settings, now=now
        ),
        hotspots=hotspots_of(
            engine,
            which.first_day,
            last_day,
            communities,
            place.name,
            settings=settings,
            limit=LIST_LIMIT,
        ),
        notes=[
            "应结案数：处置时限（派遣时确定的首个时限）在本月内到期的案件；结案数、按期结案数均在其中统计。",
            "处置率 = 月末前已处理反馈的应结案件 / 应结案数；"
            "返工率 = 返工次数 / 核查次数（结案 + 返工）。",
            "分类统计不含重复诉求；倾向性问题：本月出现且近"
            f"{RECURRING_WINDOW}个月中至少{RECURRING_MONTHS}个月出现，或本月同一网格同一小类"
            f"不少于{settings.repeat_report_count}件。",
            "值守合规：周一至周日（北京时间），周四所在月份为该周所属月份。",
        ],
    )
