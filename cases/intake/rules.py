"""The rules of intake: what a located complaint becomes, whatever the door.

One set of rules for the API, Open311 and `grid assign`: the same input gives
the same case. They are written over columns (numpy and pyarrow), so a bulk
load applies them to a million rows at once and the single path
(`cases.intake.submit.submit_complaint`) applies them to a column of one.
Nothing else decides these things.

1. Status and note, by where the point fell (`placement`), in the states of
   the lifecycle (cases.lifecycle.states):
   - in a grid, or snapped to one across a sliver gap: filed and dispatched
     at once to the grid's station (`dispatched`); `filed` when the grid's
     community has no station (a dispatcher dispatches it); `duplicate`
     instead when it repeats an open case (the single path looks; see
     cases.intake.duplicates);
   - inside the district but far from every grid: `received`, for a
     dispatcher to place;
   - outside the district: `referred_out` (转办), the neighbour named when
     one contains the point;
   - no coordinates but an address: `received`.
2. Tier: the subclass's default tier (catalogue), raised by two rules whose
   thresholds are settings (a `tier_raised` event names the rule):
   - repeat: the same subclass reported `repeat_report_count` (3) or more
     times in one grid within `repeat_report_days` (30) days, this report
     included, moves it up one tier (`prior_reports` counts the earlier
     ones: the database's, and a file's own earlier rows, `window_counts`);
   - emergency: a subclass of a class flagged `emergency` (突发事件) goes
     to `emergency_tier` (major).
   Duplicates and referred-out complaints keep the default.
3. The due clock starts at dispatch (派遣), as the national pattern has it,
   and runs for the subclass's time limit on the bureau's working-time
   calendar (cases.calendar deadlines, flagged provisional in a year the
   calendar does not cover). A complaint that comes in live (API, Open311)
   is dispatched the moment it is filed: its clock starts then, whatever
   `reported_at` (when the resident saw it) says. A row of a file (`grid
   assign`) is the record of a complaint the bureau received and dispatched
   at its `reported_at`: its clock starts there. Only dispatched cases have a
   due time. The reply to the resident (答复) is due the subclass's reply
   limit after receipt (the same moment), for every case but a duplicate.
4. Who holds a dispatched case, by its tier (cases.lifecycle.holders): a
   minor one the station's officers, named by the officer who takes it
   (below; `officer_code` names this officer for every tier); a moderate
   one the squad's leader; a major one the deputy leader in charge. Received
   and filed cases are held by the command centre (`dispatcher`); the others
   by nobody. A duplicate names its master's officer. In a multi-department
   grid (党建+N) a case whose subclass's department is one of the grid's (and
   not the bureau's own) is shared with it (`department_code`).
   The officer who takes a dispatched case is the one on duty (值守) at the
   moment of dispatch, from the duty shifts (the weekday columns of an
   officer's row are only the template a rota is made from). The rule is
   written once, in SQL, in cases.stations.onduty, and runs before these
   rules (its answer is `Placed.duty_officer`):
   - at a moment a shift of the station covers: the officer on that shift,
     present (checked in) before planned, the fewest open cases, then code;
   - when nobody is on duty there (most moments: a shift is half a day per
     officer per week; a holiday has none): the station's officers in turn,
     the k-th such complaint of a station to officer (k - 1) mod m of its m
     officers ordered by open cases (at the start of the load, for a file),
     then code. One complaint alone goes to the officer with the fewest
     open cases; a file's rows are spread over the station as the single
     path, taking them one at a time, spreads them over officers who start
     even.
5. The events, in this order: `created` (actor: the door; the default
   tier), `located` (when there are coordinates), `tier_raised` (when a rule
   raised it), then one of `dispatched`, `filed`, `merged` (a duplicate),
   `referred_out` or `needs_location` (received). Their data carries what is
   not in the case row's columns or may change later, nothing per file or
   door.
6. History (`grid assign` only, `History`, checked by cases.bulk.history): a
   row may give its case's later course: `status` (`HISTORY_STATUSES`; empty:
   a new complaint), `dispatched_at`, `closed_at`, `rating`. The clock, and
   the choice of the officer on duty, start at `dispatched_at` when given
   (`clock_start`; else `reported_at`); the reply is due from `reported_at`.
   The file's status applies only where the placement dispatches: outside
   the district stays `referred_out`, not placed `received`, a grid without
   a station `filed` (the load counts them). Tier, officer, due time and
   department are decided as at intake; a closed or evaluated case is held
   by nobody and carries `closed_at` (and `rating`). Its course follows the
   intake events: `started` (dated at dispatch: a file has no time for it),
   `closed` at `closed_at`, `evaluated` (dated at closure). With history all
   the load's events are dated by the row's times (received at
   `reported_at`, dispatched at the clock's start); without, when written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cases.calendar import WorkCalendar
from cases.catalogue import Catalogue
from cases.intake.columns import Strings, Times, per_combination
from cases.intake.events import Raised, dated_events, history_events, intake_events
from cases.lifecycle.holders import Leaders, holder_roles_for
from cases.lifecycle.states import TIERS
from gis.settings import Settings, get_settings

__all__ = [
    "HISTORY_CLOSED",
    "HISTORY_STATUSES",
    "Decision",
    "History",
    "Placed",
    "clock_start",
    "decide",
    "per_combination",
    "placement",
    "window_counts",
]

NOTE_NO_COORDINATES = "无坐标，待调度员按地址定位"
NOTE_UNASSIGNED = "位于辖区内但不在任何网格内，待调度员定位"
NOTE_REFERRED_NAMED = "转办：该位置不在本区，属{district}，待指挥中心转交该区处理"
NOTE_REFERRED_UNNAMED = "转办：该位置不在本区及相邻区，待指挥中心核实转交"
NOTE_MERGED = "与案件 {master} 重复，已合并"
NOTE_NO_STATION = "所在网格无社区城管服务站，待调度员派遣"

EVENTS_PER_CASE = 6
"""At most this many events a case gets from the rules: at intake created, located,
tier_raised and one more; from a file's history (rule 6) up to two more."""
HISTORY_STATUSES: tuple[str, ...] = ("dispatched", "in_progress", "closed", "evaluated")
"""The statuses a file's row may give its case (rule 6): the course of a dispatched case."""
HISTORY_CLOSED: tuple[str, ...] = ("closed", "evaluated")
"""Of those, the finished ones: they need `closed_at`; the others must not have it."""


@dataclass(frozen=True)
class Placed:
    """Located complaints, one entry per complaint in every column.

    `method` is contained | snapped | unassigned | outside | none (no
    coordinates). `district_code` is the home district for a located or
    unassigned point, the neighbour (or null) for an outside one, null
    without coordinates; `district_name` names the neighbour of an outside
    point. `dispatched_at` is when the clock starts (module docs, rule 3),
    UTC. `master_id` is the open case a complaint duplicates (-1: none) and
    `master_officer` that case's officer. `duty_officer` is the officer who
    takes the complaint if it is dispatched (rule 4: chosen in SQL by
    cases.stations.onduty at `dispatched_at`; null without a station).
    `prior_reports`: how many earlier reports of the same subclass in the
    same grid fall in the repeat window (rule 2; None: none).
    """

    subclass: Strings
    method: Strings
    grid_code: Strings
    distance_m: npt.NDArray[np.float64]
    station: Strings
    squad: Strings
    district_code: Strings
    district_name: Strings
    generation: npt.NDArray[np.int64]
    dispatched_at: Times
    master_id: npt.NDArray[np.int64]
    master_officer: Strings
    duty_officer: Strings
    prior_reports: npt.NDArray[np.int64] | None = None

    @property
    def n(self) -> int:
        """How many complaints."""
        return len(self.method)


@dataclass(frozen=True)
class History:
    """A file's record of each complaint's later course (rule 6), one entry per complaint.

    `status`: one of HISTORY_STATUSES, or null (a new complaint: rules 1-5
    alone); `reported_at` as the file gives it; `closed_at` (NaT: open) and
    `rating` (0: none) as validated by the load (cases.bulk.history).
    """

    status: Strings
    reported_at: Times
    closed_at: Times
    rating: npt.NDArray[np.int64]


def clock_start(reported_at: Times, dispatched_at: Times) -> Times:
    """When the due clock of a file's row starts (rules 3 and 6): its `dispatched_at`
    where the file gives one, else its `reported_at`."""
    reported = np.asarray(reported_at, dtype="datetime64[us]")
    dispatched = np.asarray(dispatched_at, dtype="datetime64[us]")
    return np.where(np.isnat(dispatched), reported, dispatched)


@dataclass(frozen=True)
class Decision:
    """What the rules made of `Placed` complaints (same order).

    `events` has one row per event, grouped by kind (every `created`, then
    every `located`, then the last events): `row` (the complaint's
    position), `seq` (its place among the complaint's events: 0, 1, 2),
    `kind`, `actor`, `data` (JSON text). Written in this order, events that
    take their ids from a sequence are numbered in each complaint's order.
    """

    status: Strings
    note: Strings
    tier: Strings
    due_at: Times
    officer: Strings
    events: pa.Table
    due_provisional: npt.NDArray[np.bool_]
    reply_due_at: Times
    reply_provisional: npt.NDArray[np.bool_]
    holder_role: Strings
    holder_code: Strings
    department: Strings
    closed_at: Times | None = None  # rule 6: only when the file has history
    rating: npt.NDArray[np.int64] | None = None  # 0: none


# ------------------------------------------------------------------- status


def _status_of(method: str | None) -> str:
    if method in ("contained", "snapped"):
        return "dispatched"
    return "referred_out" if method == "outside" else "received"


def _note_of(method: str | None, district_name: str | None) -> str:
    if method in ("contained", "snapped"):
        return ""
    if method == "outside":
        if district_name:
            return NOTE_REFERRED_NAMED.format(district=district_name)
        return NOTE_REFERRED_UNNAMED
    return NOTE_UNASSIGNED if method == "unassigned" else NOTE_NO_COORDINATES


def placement(method: Strings, district_name: Strings) -> tuple[Strings, Strings]:
    """(status, status_note) by where each point fell; `dispatched` may still become
    `filed` (no station) or `duplicate` (rule 1)."""
    return (
        per_combination([method], _status_of),
        per_combination([method, district_name], _note_of),
    )


# ------------------------------------------------------------- tier rules


def window_counts(
    keys: Strings,
    times: Times,
    days: float,
    existing_keys: Strings | None = None,
    existing_times: Times | None = None,
) -> npt.NDArray[np.int64]:
    """For each (key, time), how many earlier entries of the same key fall within
    `days` before it (inclusive): the existing ones (the database's), and the
    entries of `keys` itself that sort before it (by time, then position).

    Set-based: one sort and one binary search over all entries, no loop per
    row. Times are compared to the second. Null keys count nothing (0).
    """
    n = len(keys)
    old_keys = existing_keys if existing_keys is not None else pa.array([], pa.string())
    old_times = (
        existing_times if existing_times is not None else np.array([], dtype="datetime64[us]")
    )
    all_keys = pa.concat_arrays([old_keys.cast(pa.string()), keys.cast(pa.string())])
    secs = np.concatenate(
        [
            np.asarray(old_times, dtype="datetime64[s]").astype(np.int64),
            np.asarray(times, dtype="datetime64[s]").astype(np.int64),
        ]
    )
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    window = round(days * 86_400)
    enc = pc.dictionary_encode(all_keys)
    k = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    valid = k >= 0
    t = secs - secs[valid].min() + window if valid.any() else secs
    span = int(t[valid].max()) + 1 if valid.any() else 1
    composite = np.where(valid, k * span + t, -1)
    is_new = np.concatenate([np.zeros(len(old_keys), dtype=np.int64), np.ones(n, dtype=np.int64)])
    position = np.arange(len(composite), dtype=np.int64)
    order = np.lexsort((position, is_new, composite))
    ranked = composite[order]
    lo = np.searchsorted(ranked, ranked - window, side="left")
    before = np.arange(len(ranked), dtype=np.int64) - lo
    counts = np.empty(len(ranked), dtype=np.int64)
    counts[order] = before
    out = counts[len(old_keys) :]
    return np.where(valid[len(old_keys) :], out, 0)


def _raise_tiers(
    placed: Placed,
    status: Strings,
    default: Strings,
    emergency: Strings,
    settings: Settings,
) -> tuple[Strings, Raised]:
    """Rule 2: the tier of each complaint, and which were raised by which rule."""
    n = placed.n
    rank = {t: i for i, t in enumerate(TIERS)}
    base = np.asarray(per_combination([default], lambda t: rank[t], pa.int64()).to_numpy())
    prior = placed.prior_reports if placed.prior_reports is not None else np.zeros(n, np.int64)
    eligible = np.asarray(pc.is_in(status, value_set=pa.array(["dispatched", "filed"])))
    repeat = eligible & (prior + 1 >= settings.repeat_report_count)
    kept = eligible | np.asarray(pc.equal(status, "received"))
    urgent = kept & np.asarray(pc.equal(emergency, "yes"))
    by_repeat = np.where(repeat, np.minimum(base + 1, len(TIERS) - 1), base)
    by_emergency = np.where(urgent, rank[settings.emergency_tier], base)
    final = np.maximum(by_repeat, by_emergency)
    mask = final > base
    rule = np.full(n, None, dtype=object)
    rule[mask & (by_repeat > base)] = "repeat"
    rule[mask & (by_emergency > base)] = "emergency"
    rule[mask & (by_repeat > base) & (by_emergency > base)] = "repeat+emergency"
    tier = pa.array(np.array(TIERS, dtype=object)[final], pa.string())
    raised = Raised(
        mask=mask,
        default=default,
        rule=pa.array(rule, pa.string()),
        count=prior + 1,
        window_days=settings.repeat_report_days,
    )
    return tier, raised


# ------------------------------------------------------------------ decide


def decide(
    placed: Placed,
    catalogue: Catalogue,
    calendar: WorkCalendar,
    source: str,
    *,
    leaders: Leaders | None = None,
    grid_departments: Strings | None = None,
    settings: Settings | None = None,
    history: History | None = None,
) -> Decision:
    """Apply rules 1-6 (module docs) to located complaints; see `Placed` for the input.

    `leaders` hold moderate and major cases (rule 4; None: nobody named);
    `grid_departments` are the 党建+N pairs as `grid_code/department_code`
    keys (None: no grid shares its cases); `settings` has the thresholds;
    `history` a file's record of the cases' later course (rule 6; None: none).
    """
    settings = settings or get_settings()
    subs = {s.code: s for s in catalogue.subclasses}
    known = pc.is_in(placed.subclass, value_set=pa.array(list(subs), pa.string()))
    if not pc.all(known, min_count=0).as_py():  # an empty load has none unknown
        raise ValueError("unknown subclass codes reached the rules (validate first)")
    default = per_combination([placed.subclass], lambda code: subs[code].tier)
    emergency = per_combination([placed.subclass], lambda c: "yes" if subs[c].emergency else "no")

    status, note = placement(placed.method, placed.district_name)
    merged = np.asarray(placed.master_id, dtype=np.int64) >= 0
    if merged.any():
        merged &= np.asarray(pc.equal(status, "dispatched"))
        mask = pa.array(merged)
        status = pc.if_else(mask, "duplicate", status)
        master_note = per_combination(
            [pa.array(placed.master_id)], lambda m: NOTE_MERGED.format(master=m)
        )
        note = pc.if_else(mask, master_note, note)
    no_station = np.asarray(pc.and_(pc.equal(status, "dispatched"), pc.is_null(placed.station)))
    if no_station.any():
        status = pc.if_else(pa.array(no_station), "filed", status)
        note = pc.if_else(pa.array(no_station), NOTE_NO_STATION, note)
    tier, raised = _raise_tiers(placed, status, default, emergency, settings)
    is_open = np.asarray(pc.equal(status, "dispatched"))  # dispatched at intake
    intake_status, status, applied = status, *_course(status, history)
    held = is_open & ~np.asarray(pc.is_in(status, value_set=pa.array(HISTORY_CLOSED)))

    dispatched = np.asarray(placed.dispatched_at, dtype="datetime64[us]")
    n = placed.n
    due = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    due_prov = np.zeros(n, dtype=np.bool_)
    if is_open.any():
        amount = per_combination(
            [placed.subclass], lambda c: subs[c].time_limit.amount, pa.float64()
        )
        in_days = per_combination(
            [placed.subclass], lambda c: subs[c].time_limit.in_days, pa.bool_()
        )
        found = calendar.deadline_many(
            dispatched[is_open],
            np.asarray(amount.to_numpy(zero_copy_only=False))[is_open],
            np.asarray(in_days.to_numpy(zero_copy_only=False))[is_open],
        )
        due[is_open], due_prov[is_open] = found.at, found.provisional
    answered = ~np.asarray(pc.equal(status, "duplicate"))
    received = dispatched if history is None else history.reported_at
    reply = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    reply_prov = np.zeros(n, dtype=np.bool_)
    if answered.any():
        amount = per_combination(
            [placed.subclass], lambda c: subs[c].reply_limit.amount, pa.float64()
        )
        in_days = per_combination(
            [placed.subclass], lambda c: subs[c].reply_limit.in_days, pa.bool_()
        )
        found = calendar.deadline_many(
            np.asarray(received, dtype="datetime64[us]")[answered],
            np.asarray(amount.to_numpy(zero_copy_only=False))[answered],
            np.asarray(in_days.to_numpy(zero_copy_only=False))[answered],
        )
        reply[answered], reply_prov[answered] = found.at, found.provisional
    timezone = calendar.config.timezone
    officer = pc.if_else(
        pa.array(is_open),
        placed.duty_officer,
        pc.if_else(pa.array(merged), placed.master_officer, pa.nulls(n, pa.string())),
    )
    tiers = np.asarray(tier.to_numpy(zero_copy_only=False), dtype=object)
    roles = holder_roles_for(tiers)
    roles[~held] = None
    waiting = np.asarray(pc.is_in(status, value_set=pa.array(["received", "filed"])))
    roles[waiting] = "dispatcher"
    codes = (leaders or Leaders()).codes_for(
        roles,
        np.asarray(placed.squad.to_numpy(zero_copy_only=False), dtype=object),
        np.asarray(officer.to_numpy(zero_copy_only=False), dtype=object),
    )
    holder = (pa.array(roles, pa.string()), pa.array(codes, pa.string()))
    department = _shared(placed, intake_status, subs, grid_departments, settings)
    events = intake_events(
        placed, intake_status, tier, officer, holder, due, raised, source, timezone
    )
    closed_at = rating = None
    if history is not None:
        events = dated_events(events, history.reported_at, placed.dispatched_at)
        events = pa.concat_tables(
            [
                events,
                history_events(
                    history, status, applied, is_open & ~held, events, placed.dispatched_at, source
                ),
            ]
        )
        closed_at = np.where(applied, history.closed_at, np.datetime64("NaT", "us"))
        rating = np.where(applied, history.rating, 0)
    return Decision(
        status=status,
        note=note,
        tier=tier,
        due_at=due,
        officer=officer,
        events=events,
        due_provisional=due_prov,
        reply_due_at=reply,
        reply_provisional=reply_prov,
        holder_role=holder[0],
        holder_code=holder[1],
        department=department,
        closed_at=closed_at,
        rating=rating,
    )


def _course(status: Strings, history: History | None) -> tuple[Strings, npt.NDArray[np.bool_]]:
    """Rule 6: the file's status where the placement dispatched the complaint and the
    file gives one; which rows took it."""
    if history is None:
        return status, np.zeros(len(status), dtype=bool)
    applied = np.asarray(
        pc.and_(pc.equal(status, "dispatched"), pc.is_valid(history.status)), dtype=bool
    )
    return pc.if_else(pa.array(applied), history.status, status), applied


def _shared(
    placed: Placed,
    status: Strings,
    subs: Mapping[str, Any],
    grid_departments: Strings | None,
    settings: Settings,
) -> Strings:
    """Rule 4's department: the subclass's, where the grid lists it and it is not the bureau."""
    n = placed.n
    if grid_departments is None or len(grid_departments) == 0:
        return pa.nulls(n, pa.string())
    dept = per_combination([placed.subclass], lambda c: subs[c].department)
    keys = pc.binary_join_element_wise(placed.grid_code, dept, "/")
    listed = pc.fill_null(pc.is_in(keys, value_set=grid_departments), False)
    ours = pc.equal(dept, settings.bureau_department)
    placed_in_grid = pc.is_in(status, value_set=pa.array(["dispatched", "filed"]))
    keep = pc.and_(pc.and_(listed, pc.invert(ours)), placed_in_grid)
    return pc.if_else(keep, dept, pa.nulls(n, pa.string()))
