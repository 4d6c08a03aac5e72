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
   minor one the station's officers, named by the active officer on duty
   (值守: weekday and half day, local time of the calendar's zone) at the
   moment of dispatch, the lowest code first, or when nobody is on duty then
   the station's active officer with the lowest code (`officer_code` names
   this officer for every tier); a moderate one the squad's leader; a major
   one the deputy leader in charge. Received and filed cases are held by the
   command centre (`dispatcher`); the others by nobody. A duplicate names
   its master's officer. In a multi-department grid (党建+N) a case whose
   subclass's department is one of the grid's (and not the bureau's own) is
   shared with it (`department_code`).
5. The events, in this order: `created` (actor: the door; the default
   tier), `located` (when there are coordinates), `tier_raised` (when a rule
   raised it), then one of `dispatched`, `filed`, `merged` (a duplicate),
   `referred_out` or `needs_location` (received). Their data carries what is
   not in the case row's columns or may change later, nothing per file or
   door.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cases.calendar import WorkCalendar
from cases.catalogue import Catalogue
from cases.lifecycle.holders import Leaders, holder_roles_for
from cases.lifecycle.states import TIERS
from gis.settings import Settings, get_settings

__all__ = [
    "Decision",
    "OfficerRoster",
    "Placed",
    "decide",
    "duty_slot",
    "placement",
    "window_counts",
]

NOTE_NO_COORDINATES = "无坐标，待调度员按地址定位"
NOTE_UNASSIGNED = "位于辖区内但不在任何网格内，待调度员定位"
NOTE_REFERRED_NAMED = "转办：该位置不在本区，属{district}，待指挥中心转交该区处理"
NOTE_REFERRED_UNNAMED = "转办：该位置不在本区及相邻区，待指挥中心核实转交"
NOTE_MERGED = "与案件 {master} 重复，已合并"
NOTE_NO_STATION = "所在网格无社区城管服务站，待调度员派遣"

SLOTS = 14
"""Duty slots in a week: weekday (0 = Monday) × half day (am before 12:00, pm)."""
EVENTS_PER_CASE = 4
"""At most this many events at intake (created, located, tier_raised, and one more)."""

Strings: TypeAlias = pa.Array
_STRING = pa.string()
Times: TypeAlias = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class Placed:
    """Located complaints, one entry per complaint in every column.

    `method` is contained | snapped | unassigned | outside | none (no
    coordinates). `district_code` is the home district for a located or
    unassigned point, the neighbour (or null) for an outside one, null
    without coordinates; `district_name` names the neighbour of an outside
    point. `dispatched_at` is when the clock starts (module docs, rule 3),
    UTC. `master_id` is the open case a complaint duplicates (-1: none) and
    `master_officer` that case's officer. `prior_reports`: how many earlier
    reports of the same subclass in the same grid fall in the repeat window
    (rule 2; None: none).
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
    prior_reports: npt.NDArray[np.int64] | None = None

    @property
    def n(self) -> int:
        """How many complaints."""
        return len(self.method)


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


# --------------------------------------------------------------- by values


def per_combination(
    columns: list[pa.Array], fn: Callable[..., Any], kind: pa.DataType = _STRING
) -> pa.Array:
    """`fn(*values)` for each row, worked out once per distinct combination of values.

    The rules' inputs are few-valued (methods, codes, names), so a million
    rows have a few thousand combinations at most: `fn` is plain Python, run
    per combination, and its results are handed to the rows (no loop over
    rows). Nulls reach `fn` as None.
    """
    n = len(columns[0])
    key = np.zeros(n, dtype=np.int64)
    vocab: list[list[Any]] = []
    for values in columns:
        enc = pc.dictionary_encode(values)
        words = enc.dictionary.to_pylist()
        idx = np.asarray(pc.fill_null(enc.indices, len(words)).to_numpy(zero_copy_only=False))
        key = key * (len(words) + 1) + idx.astype(np.int64)
        vocab.append([*words, None])
    # Distinct keys by hashing (pyarrow), not by sorting a million of them (numpy).
    distinct = pc.dictionary_encode(pa.array(key, pa.int64()))
    results = []
    for combo in distinct.dictionary.to_pylist():
        picked = []
        for words in reversed(vocab):
            combo, i = divmod(combo, len(words))
            picked.append(words[i])
        results.append(fn(*reversed(picked)))
    return pa.array(results, kind).take(distinct.indices)


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


# ----------------------------------------------------------------- officers


def duty_slot(times: Times, timezone: str) -> npt.NDArray[np.int64]:
    """The duty slot (weekday * 2 + pm) of each UTC time, in local time of `timezone`."""
    ts = pa.array(np.asarray(times, dtype="datetime64[us]"), pa.timestamp("us", "UTC"))
    local = pc.local_timestamp(pc.cast(ts, pa.timestamp("us", timezone)))
    weekday = np.asarray(pc.day_of_week(local).to_numpy(zero_copy_only=False), dtype=np.float64)
    hour = np.asarray(pc.hour(local).to_numpy(zero_copy_only=False), dtype=np.float64)
    slot = weekday * 2 + (hour >= 12)
    return np.where(np.isnan(slot), -1, slot).astype(np.int64)


def officer_slot(weekday: int | None, half: str | None) -> int:
    """The duty slot of an officer's weekday (0 = Monday) and half day ('am'/'pm'); -1: none."""
    if weekday is None or half not in ("am", "pm"):
        return -1
    return int(weekday) * 2 + (half == "pm")


class OfficerRoster:
    """Who holds a station's cases in each duty slot (rule 4), as a lookup table.

    Built from the active officers' rows (station_code, code, duty_weekday,
    duty_half): all of them for a bulk load, one station's for one complaint.
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        by_station: dict[str, list[tuple[str, int]]] = {}
        for r in rows:
            if r["station_code"] is None:
                continue
            slot = officer_slot(r["duty_weekday"], r["duty_half"])
            by_station.setdefault(str(r["station_code"]), []).append((str(r["code"]), slot))
        self.stations = pa.array(sorted(by_station), pa.string())
        table = np.empty((len(by_station), SLOTS), dtype=object)
        for i, station in enumerate(self.stations.to_pylist()):
            officers = sorted(by_station[station])
            fallback = officers[0][0]
            for slot in range(SLOTS):
                table[i, slot] = next((c for c, s in officers if s == slot), fallback)
        self._table = table

    def pick(self, stations: Strings, slots: npt.NDArray[np.int64]) -> Strings:
        """The officer for each (station, duty slot); null where the station has nobody."""
        idx = pc.index_in(stations, value_set=self.stations)
        i = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        out = np.full(len(i), None, dtype=object)
        ok = (i >= 0) & (slots >= 0)
        if ok.any():
            out[ok] = self._table[i[ok], slots[ok]]
        return pa.array(out, pa.string())


# ------------------------------------------------------------------- events


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def _json_times(times: Times, timezone: str) -> pa.Array:
    """Times as JSON strings: ISO 8601 local time of `timezone` with its offset, as
    datetime.isoformat() writes them (no fraction when it is zero); null for NaT."""
    utc = np.asarray(times, dtype="datetime64[us]")
    ts = pa.array(utc, pa.timestamp("us", "UTC"))
    local = pc.local_timestamp(pc.cast(ts, pa.timestamp("us", timezone)))
    offset_us = pc.subtract(local.cast(pa.int64()), ts.cast(pa.int64()))
    offsets = pc.unique(pc.drop_null(offset_us)).to_pylist()
    text = pc.replace_substring(pc.cast(local, pa.string()), " ", "T")
    text = pc.replace_substring_regex(text, r"\.000000$", "")
    names = pa.array([_offset_text(o // 1_000_000) for o in offsets], pa.string())
    zone = names.take(pc.index_in(offset_us, value_set=pa.array(offsets, pa.int64())))
    return pc.fill_null(pc.binary_join_element_wise('"', text, zone, '"', ""), "null")


def _json(keys: tuple[str, ...], close: bool = True) -> Callable[..., str]:
    """A function of the values that writes them as one JSON object with these keys."""

    def write(*values: Any) -> str:
        text = json.dumps(
            dict(zip(keys, values, strict=True)), ensure_ascii=False, separators=(",", ":")
        )
        return text if close else text[:-1]

    return write


@dataclass(frozen=True)
class _Raised:
    """Rule 2's outcome: which rows were raised, from which tier, by which rule."""

    mask: npt.NDArray[np.bool_]
    default: Strings
    rule: Strings
    count: npt.NDArray[np.int64]
    window_days: float


def _events(
    placed: Placed,
    status: Strings,
    tier: Strings,
    officer: Strings,
    holder: tuple[Strings, Strings],
    due_at: Times,
    raised: _Raised,
    source: str,
    timezone: str,
) -> pa.Table:
    n = placed.n
    method = pc.fill_null(placed.method, "none")
    has_point = np.asarray(pc.not_equal(method, "none"))
    st = np.asarray(pc.dictionary_encode(status).indices.to_numpy(zero_copy_only=False))
    words = pc.dictionary_encode(status).dictionary.to_pylist()

    def where(value: str) -> npt.NDArray[np.bool_]:
        return st == words.index(value) if value in words else np.zeros(n, dtype=bool)

    def on(mask: npt.NDArray[np.bool_], *arrays: pa.Array | npt.NDArray[Any]) -> list[pa.Array]:
        keep = pa.array(mask)
        return [
            a.filter(keep) if isinstance(a, pa.Array) else pa.array(a[mask], from_pandas=True)
            for a in arrays
        ]

    groups: list[tuple[str, npt.NDArray[np.bool_], pa.Array]] = []
    every = np.ones(n, dtype=bool)
    created = per_combination([placed.subclass, raised.default], _json(("subclass", "tier")))
    groups.append(("created", every, created))
    located_keys = ("method", "grid_code", "distance_m", "district_code", "generation")
    located = on(
        has_point,
        method,
        placed.grid_code,
        np.round(placed.distance_m, 2),
        placed.district_code,
        placed.generation,
    )
    groups.append(("located", has_point, per_combination(located, _json(located_keys))))
    up = raised.mask
    if up.any():
        window = raised.window_days
        groups.append(
            (
                "tier_raised",
                up,
                per_combination(
                    on(up, raised.default, tier, raised.rule, raised.count),
                    lambda a, b, rule, count: _json(
                        ("tier_from", "tier_to", "rule", "count", "window_days")
                    )(a, b, rule, count, window),
                ),
            )
        )
    o = where("dispatched")
    if o.any():
        head = per_combination(
            on(o, placed.station, placed.squad, officer, holder[0], holder[1]),
            _json(("station", "squad", "officer_code", "holder_role", "holder_code"), close=False),
        )
        data = pc.binary_join_element_wise(
            head,
            ',"dispatched_at":',
            _json_times(placed.dispatched_at[o], timezone),
            ',"due_at":',
            _json_times(due_at[o], timezone),
            "}",
            "",
        )
        groups.append(("dispatched", o, data))
    for kind, state, key, column in (
        ("filed", "filed", "grid_code", placed.grid_code),
        ("merged", "duplicate", "master_id", placed.master_id),
        ("referred_out", "referred_out", "district_code", placed.district_code),
        ("needs_location", "received", "method", method),
    ):
        mask = where(state)
        if mask.any():
            groups.append((kind, mask, per_combination(on(mask, column), _json((key,)))))
    rows, seqs, kinds = [], [], []
    for kind, mask, _ in groups:
        picked = np.flatnonzero(mask)
        rows.append(picked)
        if kind == "created":
            seqs.append(np.zeros(len(picked), dtype=np.int64))
        elif kind == "located":
            seqs.append(np.ones(len(picked), dtype=np.int64))
        elif kind == "tier_raised":
            seqs.append(1 + has_point[picked].astype(np.int64))
        else:
            seqs.append(1 + has_point[picked].astype(np.int64) + up[picked].astype(np.int64))
        kinds.append(pa.repeat(pa.scalar(kind), len(picked)))
    first = len(rows[0])
    actor = np.ones(sum(len(r) for r in rows), dtype=np.int8)
    actor[:first] = 0
    return pa.table(
        {
            "row": pa.array(np.concatenate(rows)),
            "seq": pa.array(np.concatenate(seqs)),
            "kind": pa.concat_arrays(kinds),
            "actor": pa.array([source, "system"], pa.string()).take(pa.array(actor)),
            "data": pa.concat_arrays([g[2] for g in groups]),
        }
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
) -> tuple[Strings, _Raised]:
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
    raised = _Raised(
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
    roster: OfficerRoster,
    source: str,
    *,
    leaders: Leaders | None = None,
    grid_departments: Strings | None = None,
    settings: Settings | None = None,
) -> Decision:
    """Apply rules 1-5 (module docs) to located complaints; see `Placed` for the input.

    `leaders` hold moderate and major cases (rule 4; None: nobody named);
    `grid_departments` are the 党建+N pairs as `grid_code/department_code`
    keys (None: no grid shares its cases); `settings` has the thresholds.
    """
    settings = settings or get_settings()
    subs = {s.code: s for s in catalogue.subclasses}
    known = pc.is_in(placed.subclass, value_set=pa.array(list(subs), pa.string()))
    if not pc.all(known).as_py():
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
    is_open = np.asarray(pc.equal(status, "dispatched"))

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
            dispatched[answered],
            np.asarray(amount.to_numpy(zero_copy_only=False))[answered],
            np.asarray(in_days.to_numpy(zero_copy_only=False))[answered],
        )
        reply[answered], reply_prov[answered] = found.at, found.provisional
    timezone = calendar.config.timezone
    picked = roster.pick(placed.station, duty_slot(dispatched, timezone))
    officer = pc.if_else(
        pa.array(is_open),
        picked,
        pc.if_else(pa.array(merged), placed.master_officer, pa.nulls(n, pa.string())),
    )
    tiers = np.asarray(tier.to_numpy(zero_copy_only=False), dtype=object)
    roles = holder_roles_for(tiers)
    roles[~is_open] = None
    waiting = np.asarray(pc.is_in(status, value_set=pa.array(["received", "filed"])))
    roles[waiting] = "dispatcher"
    codes = (leaders or Leaders()).codes_for(
        roles,
        np.asarray(placed.squad.to_numpy(zero_copy_only=False), dtype=object),
        np.asarray(officer.to_numpy(zero_copy_only=False), dtype=object),
    )
    holder = (pa.array(roles, pa.string()), pa.array(codes, pa.string()))
    department = _shared(placed, status, subs, grid_departments, settings)
    events = _events(placed, status, tier, officer, holder, due, raised, source, timezone)
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
    )


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
