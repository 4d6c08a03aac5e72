"""Indicators (考核指标) of the case workflow, per place and period.

The national evaluation of digital urban management (数字城管) has three
levels: area (区域: district, subdistrict, community, grid, and a station's
community), department (部门: the enforcement squads, and the 党建+N
departments a case is shared with) and post (岗位: the officer named for a
case at dispatch). A case counts where it is now placed (its grid,
community, station, squad, officer and shared department columns); the
district is every case the bureau took in, those referred out or never
placed included. Every figure below is computed for any of them, for a
period of calendar days [from, to] in Asia/Shanghai (instants [from 00:00,
to + 1 day 00:00)).

Definitions (one place: `definitions.INDICATORS`; keys are stable):

- received 受理数: cases whose `reported_at` falls in the period;
- filed 立案数: of those, the cases filed (立案): dispatched, waiting for
  dispatch as `filed`, or filed and then cancelled, referred out or found
  to repeat another case (a `filed` event on record);
- dispatched 派遣数: cases dispatched in the period (the handling clock starts);
- due 应结案数 (the national convention: the cases whose time limit runs out
  in the period, those carried over from earlier periods included): cases
  whose handling deadline falls in the period. The deadline is the first
  one, set at dispatch; escalation sets a new one, so for an escalated case
  it is the `overdue_since` of its first escalation. Cases referred out,
  cancelled or found to be duplicates are not the bureau's to close. Each
  case is due in exactly one period, so months add up to the year;
- closed 结案数: of the cases due, those closed (核查结案) by the period's end;
  closed_on_time 按期结案数: closed by their deadline;
  closure_rate 结案率 = closed / due; on_time_closure_rate 按期结案率 =
  closed_on_time / due (a published city report: 911/972 = 93.72%,
  737/972 = 75.82%);
- handled 处置数: of the cases due (应处置数), those handled and reported back
  (处理反馈) by the period's end (closure counts as handled when no report
  back is on record, e.g. imported history); handled_on_time 按时处置数: reported
  back by the deadline; disposal_rate 处置率 = handled / due,
  on_time_disposal_rate 按时处置率 = handled_on_time / due. 处置率 ≥ 结案率:
  closure is the command centre's check of a handled case;
- reworked 返工数: send-backs for rework in the period; verified 核查数: the
  period's verifications, closures plus send-backs (each report back ends in
  one of the two); rework_rate 返工率 = reworked / verified: the share of
  verifications that sent the work back;
- avg_handling_hours 平均处置时长: over the cases due that were handled by the
  period's end, the mean working hours (the bureau's calendar: working
  periods, holidays, 调休) from dispatch to the first report back;
- escalated 超时升级数 and by step: to the squad leader (moderate, 升级为中事),
  to the deputy leader in charge (major, 升级为大事), on to the chief;
  counted when the escalation happened;
- reply_due 应答复数: cases whose reply deadline (答复) falls in the period;
  replied_on_time 按时答复数: answered by it; reply_on_time_rate 按时答复率;
- evaluated 评价数, avg_rating 平均评分, satisfied 满意数 (rated 4 or 5),
  satisfaction_rate 满意率: the residents' ratings of the cases closed in
  the period (whenever the rating came in).

A period that includes today gives the figures as of now (`as_of`).

Modules: `definitions` (keys, names, levels), `period` (dates), `places`
(level and code, scope), `worktime` (the calendar inside SQL), `query` (the
statement), `figures` (the public functions).
"""

from cases.indicators.definitions import (
    BY_KEY,
    INDICATORS,
    LEVEL_BY_KEY,
    LEVELS,
    Indicator,
    Level,
)
from cases.indicators.figures import (
    IndicatorSet,
    counts_by,
    indicators,
    place_for,
    value_of,
    values_of,
)
from cases.indicators.period import Period, parse_period
from cases.indicators.places import Place
from cases.indicators.query import Counts

__all__ = [
    "BY_KEY",
    "INDICATORS",
    "LEVELS",
    "LEVEL_BY_KEY",
    "Counts",
    "Indicator",
    "IndicatorSet",
    "Level",
    "Period",
    "Place",
    "counts_by",
    "indicators",
    "parse_period",
    "place_for",
    "value_of",
    "values_of",
]
