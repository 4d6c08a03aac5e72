"""The indicators by name: stable English keys, Chinese names, units, formulas.

This table is the one place that names an indicator; the SQL (`query`) fills
the counts, `rates` divides them, the API, the CLI and the monthly report
print them from here. See the package's docstring for what each count means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["件", "次", "%", "工作小时", "分"]


@dataclass(frozen=True)
class Indicator:
    """One indicator: its key, its name for people, its unit, and for a rate
    the keys of its numerator and denominator."""

    key: str
    name: str
    unit: Unit
    numerator: str | None = None
    denominator: str | None = None
    description: str = ""

    @property
    def is_rate(self) -> bool:
        """A share of two counts, printed as a percentage."""
        return self.numerator is not None


def _count(key: str, name: str, description: str, unit: Unit = "件") -> Indicator:
    return Indicator(key, name, unit, description=description)


def _rate(key: str, name: str, numerator: str, denominator: str, description: str) -> Indicator:
    return Indicator(key, name, "%", numerator, denominator, description)


INDICATORS: tuple[Indicator, ...] = (
    _count("received", "受理数", "cases received (reported) in the period"),
    _count("filed", "立案数", "of the cases received in the period, those filed (立案)"),
    _count("dispatched", "派遣数", "cases dispatched in the period (the clock starts)"),
    _count(
        "due",
        "应结案数",
        "cases whose handling deadline (the first one, set at dispatch) falls in the "
        "period; cases referred out or found to be duplicates are not the bureau's to close",
    ),
    _count("closed", "结案数", "of the cases due, those closed (核查结案) by the period's end"),
    _count(
        "closed_on_time",
        "按期结案数",
        "of the cases due, those closed by their deadline",
    ),
    _rate("closure_rate", "结案率", "closed", "due", "结案数 / 应结案数"),
    _rate("on_time_closure_rate", "按期结案率", "closed_on_time", "due", "按期结案数 / 应结案数"),
    _count(
        "handled",
        "处置数",
        "of the cases due, those handled and reported back (处理反馈) by the period's end",
    ),
    _count(
        "handled_on_time",
        "按时处置数",
        "of the cases due, those reported back by their deadline",
    ),
    _rate("disposal_rate", "处置率", "handled", "due", "处置数 / 应处置数（应结案数）"),
    _rate(
        "on_time_disposal_rate",
        "按时处置率",
        "handled_on_time",
        "due",
        "按时处置数 / 应处置数（应结案数）",
    ),
    _count(
        "verified",
        "核查数",
        "verifications in the period: closures (结案) plus send-backs for rework (返工)",
        "次",
    ),
    _count("reworked", "返工数", "send-backs for rework (返工) in the period", "次"),
    _rate("rework_rate", "返工率", "reworked", "verified", "返工数 / 核查数"),
    Indicator(
        "avg_handling_hours",
        "平均处置时长",
        "工作小时",
        description="over the cases due that were handled by the period's end: working "
        "hours from dispatch to the first report back (to closure when no report back is "
        "on record), on the bureau's calendar",
    ),
    _count("escalated", "超时升级数", "escalations (超时升级) in the period", "次"),
    _count(
        "escalated_to_moderate",
        "升级为中事",
        "escalations in the period that moved a case to the squad leader (moderate)",
        "次",
    ),
    _count(
        "escalated_to_major",
        "升级为大事",
        "escalations in the period that moved a case to the deputy leader in charge (major)",
        "次",
    ),
    _count(
        "escalated_to_chief",
        "提交局主要领导",
        "escalations in the period that moved a major case on to the chief",
        "次",
    ),
    _count("reply_due", "应答复数", "cases whose reply deadline (答复) falls in the period"),
    _count(
        "replied_on_time",
        "按时答复数",
        "of the replies due, those given by the reply deadline",
    ),
    _rate(
        "reply_on_time_rate", "按时答复率", "replied_on_time", "reply_due", "按时答复数 / 应答复数"
    ),
    _count("evaluated", "评价数", "cases closed in the period that the resident rated (1-5)"),
    Indicator(
        "avg_rating",
        "平均评分",
        "分",
        description="the residents' average rating (1-5) of the cases closed in the period",
    ),
    _count("satisfied", "满意数", "of the rated cases, those rated 4 or 5"),
    _rate("satisfaction_rate", "满意率", "satisfied", "evaluated", "满意数 / 评价数"),
)
BY_KEY: dict[str, Indicator] = {i.key: i for i in INDICATORS}
COUNT_KEYS: tuple[str, ...] = tuple(
    i.key for i in INDICATORS if not i.is_rate and i.key not in ("avg_handling_hours", "avg_rating")
)
"""The counts the SQL returns (the averages come with their sums)."""

SATISFIED_FROM = 4
"""A rating of this or more is satisfied (满意)."""


@dataclass(frozen=True)
class Level:
    """A level of the evaluation: the case column that places a case there."""

    key: str
    name: str
    column: str
    kind: Literal["area", "department", "post"]


LEVELS: tuple[Level, ...] = (
    Level("district", "区", "district_code", "area"),
    Level("subdistrict", "街道", "subdistrict_code", "area"),
    Level("community", "社区", "community_code", "area"),
    Level("grid", "网格", "grid_code", "area"),
    Level("station", "服务站", "station_code", "area"),
    Level("squad", "中队", "squad_code", "department"),
    Level("department", "部门", "department_code", "department"),
    Level("officer", "岗位（队员）", "officer_code", "post"),
)
"""The national evaluation's three levels: area (区域), department (部门: the
squads, and the 党建+N departments a case is shared with) and post (岗位)."""
LEVEL_BY_KEY: dict[str, Level] = {lv.key: lv for lv in LEVELS}
