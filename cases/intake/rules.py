"""The rules of intake: what a located complaint becomes, whatever the door.

One set of rules for the API, Open311 and `grid assign`: the same input gives
the same case. They are written over columns (numpy and pyarrow), so a bulk
load applies them to a million rows at once and the single path
(`cases.intake.submit.submit_complaint`) applies them to a column of one.
Nothing else decides these things.

1. Status and note, by where the point fell (`placement`):
   - in a grid, or snapped to one across a sliver gap: `open`, dispatched to
     the grid's station; `merged` instead when it duplicates an open case
     (the single path looks; see cases.intake.duplicates);
   - inside the district but far from every grid: `needs_location`;
   - outside the district: `referred_out` (转办), the neighbour named when
     one contains the point;
   - no coordinates but an address: `needs_location`.
2. Tier: the subclass's default tier (catalogue).
3. The due clock starts at dispatch (派遣), as the national pattern has it,
   and runs for the subclass's time limit in working hours on the bureau's
   calendar. A complaint that comes in live (API, Open311) is dispatched the
   moment it is filed: its clock starts then, whatever `reported_at` (when
   the resident saw it) says. A row of a file (`grid assign`) is the record of
   a complaint the bureau received and dispatched at its `reported_at`: its
   clock starts there. Only open cases have a due time.
4. The officer who holds an open case: the station's active officer on duty
   (值守: weekday and half day, local time of the calendar's zone) at the
   moment of dispatch, the lowest code first; when nobody is on duty then,
   the station's active officer with the lowest code. A merged complaint
   goes to its master's officer.
5. The events, in this order: `created` (actor: the door), `located` (when
   there are coordinates), then one of `merged`, `dispatched`,
   `referred_out` or `needs_location`. Their data carries what is not in the
   case row's columns or may change later, nothing per file or door.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cases.calendar import WorkCalendar
from cases.catalogue import Catalogue

__all__ = [
    "Decision",
    "OfficerRoster",
    "Placed",
    "decide",
    "duty_slot",
    "placement",
]

NOTE_NO_COORDINATES = "无坐标，待调度员按地址定位"
NOTE_UNASSIGNED = "位于辖区内但不在任何网格内，待调度员定位"
NOTE_REFERRED_NAMED = "转办：该位置不在本区，属{district}，待指挥中心转交该区处理"
NOTE_REFERRED_UNNAMED = "转办：该位置不在本区及相邻区，待指挥中心核实转交"
NOTE_MERGED = "与案件 {master} 重复，已合并"

SLOTS = 14
"""Duty slots in a week: weekday (0 = Monday) × half day (am before 12:00, pm)."""
EVENTS_PER_CASE = 3
"""At most this many events at intake (created, located, and one more)."""

Strings: TypeAlias = pa.Array
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
    `master_officer` that case's officer.
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

    @property
    def n(self) -> int:
        """How many complaints."""
        return len(self.method)


@dataclass(frozen=True)
class Decision:
    """What the rules made of `Placed` complaints (same order).

    `events` has one row per event: `row` (the complaint's position), `seq`
    (0, 1, 2 within it), `kind`, `actor`, `data` (JSON text); in order.
    """

    status: Strings
    note: Strings
    tier: Strings
    due_at: Times
    officer: Strings
    events: pa.Table


# ------------------------------------------------------------------- status


def placement(method: Strings, district_name: Strings) -> tuple[Strings, Strings]:
    """(status, status_note) by where each point fell; `open` may still become merged."""
    m = pc.fill_null(method, "none")
    located = pc.is_in(m, value_set=pa.array(["contained", "snapped"]))
    outside = pc.equal(m, "outside")
    unassigned = pc.equal(m, "unassigned")
    status = pc.if_else(
        located,
        "open",
        pc.if_else(outside, "referred_out", "needs_location"),
    )
    head, _, tail = NOTE_REFERRED_NAMED.partition("{district}")
    named = pc.binary_join_element_wise(head, district_name, tail, "")
    referred = pc.if_else(pc.is_null(district_name), NOTE_REFERRED_UNNAMED, named)
    note = pc.if_else(
        located,
        "",
        pc.if_else(
            outside,
            referred,
            pc.if_else(unassigned, NOTE_UNASSIGNED, NOTE_NO_COORDINATES),
        ),
    )
    return status, note


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


def _json_strings(arr: pa.Array) -> pa.Array:
    """Each value as a JSON string literal ("null" for null); exact, via the distinct values."""
    enc = pc.dictionary_encode(arr.cast(pa.string()))
    words = [json.dumps(v, ensure_ascii=False) for v in enc.dictionary.to_pylist()]
    out = pa.DictionaryArray.from_arrays(enc.indices, pa.array(words, pa.string()))
    return pc.fill_null(out.dictionary_decode(), "null")


def _json_numbers(values: npt.NDArray[Any]) -> pa.Array:
    """Numbers as JSON (NaN as null)."""
    arr = pa.array(values, from_pandas=True)
    return pc.fill_null(pc.cast(arr, pa.string()), "null")


def _json_times(times: Times, timezone: str) -> pa.Array:
    """Times as JSON strings, ISO 8601 in local time with the offset (null for NaT)."""
    ts = pa.array(np.asarray(times, dtype="datetime64[us]"), pa.timestamp("us", "UTC"))
    text = pc.strftime(pc.cast(ts, pa.timestamp("us", timezone)), "%Y-%m-%dT%H:%M:%S%z")
    text = pc.replace_substring_regex(text, r"\.000000([+-])", r"\1")  # as isoformat()
    text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
    return _json_strings(text)


def _object(fields: list[tuple[str, pa.Array]]) -> pa.Array:
    """JSON objects from per-field JSON values (keys in the given order)."""
    parts: list[Any] = []
    for i, (key, value) in enumerate(fields):
        parts.append(("{" if i == 0 else ",") + json.dumps(key) + ":")
        parts.append(value)
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _events(
    placed: Placed,
    status: Strings,
    tier: Strings,
    officer: Strings,
    due_at: Times,
    source: str,
    timezone: str,
) -> pa.Table:
    n = placed.n
    rows = np.arange(n, dtype=np.int64)
    has_point = np.asarray(pc.not_equal(pc.fill_null(placed.method, "none"), "none"))
    created = _object([("subclass", _json_strings(placed.subclass)), ("tier", _json_strings(tier))])
    located = _object(
        [
            ("method", _json_strings(placed.method)),
            ("grid_code", _json_strings(placed.grid_code)),
            ("distance_m", _json_numbers(np.round(placed.distance_m, 2))),
            ("district_code", _json_strings(placed.district_code)),
            ("generation", _json_numbers(placed.generation)),
        ]
    )
    dispatched = _object(
        [
            ("station", _json_strings(placed.station)),
            ("squad", _json_strings(placed.squad)),
            ("officer_code", _json_strings(officer)),
            ("dispatched_at", _json_times(placed.dispatched_at, timezone)),
            ("due_at", _json_times(due_at, timezone)),
        ]
    )
    merged = _object([("master_id", _json_numbers(placed.master_id))])
    referred = _object([("district_code", _json_strings(placed.district_code))])
    needs = _object([("method", _json_strings(placed.method))])
    st = status
    last_kind = st  # the status names the third event, but for `open`
    last_kind = pc.if_else(pc.equal(st, "open"), "dispatched", last_kind)
    last_data = pc.if_else(
        pc.equal(st, "open"),
        dispatched,
        pc.if_else(
            pc.equal(st, "merged"),
            merged,
            pc.if_else(pc.equal(st, "referred_out"), referred, needs),
        ),
    )
    # Interleave: per complaint created, (located), last.
    counts = 2 + has_point.astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    total = int(counts.sum())
    row = np.repeat(rows, counts)
    seq = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    first = starts
    mid = starts[has_point] + 1
    end = starts + counts - 1
    order = np.empty(total, dtype=np.int64)
    order[first] = rows
    order[mid] = n + rows[has_point]
    order[end] = 2 * n + rows
    kinds = pa.concat_arrays(
        [
            pa.array(np.full(n, "created", dtype=object), pa.string()),
            pa.array(np.full(n, "located", dtype=object), pa.string()),
            last_kind,
        ]
    )
    actors = pa.concat_arrays(
        [
            pa.array(np.full(n, source, dtype=object), pa.string()),
            pa.array(np.full(2 * n, "system", dtype=object), pa.string()),
        ]
    )
    data = pa.concat_arrays([created, located, last_data])
    take = pa.array(order)
    return pa.table(
        {
            "row": pa.array(row),
            "seq": pa.array(seq),
            "kind": kinds.take(take),
            "actor": actors.take(take),
            "data": data.take(take),
        }
    )


# ------------------------------------------------------------------ decide


def decide(
    placed: Placed,
    catalogue: Catalogue,
    calendar: WorkCalendar,
    roster: OfficerRoster,
    source: str,
) -> Decision:
    """Apply rules 1-5 (module docs) to located complaints; see `Placed` for the input."""
    subs = catalogue.subclasses
    codes = pa.array([s.code for s in subs], pa.string())
    index = pc.index_in(placed.subclass, value_set=codes)
    if index.null_count:
        raise ValueError("unknown subclass codes reached the rules (validate first)")
    idx = np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)
    tier = pa.array(np.array([s.tier for s in subs], dtype=object)[idx], pa.string())
    hours = np.array([s.time_limit_hours for s in subs], dtype=np.float64)[idx]

    status, note = placement(placed.method, placed.district_name)
    merged = np.asarray(placed.master_id, dtype=np.int64) >= 0
    if merged.any():
        is_open = np.asarray(pc.equal(status, "open"))
        merged &= is_open
        mask = pa.array(merged)
        status = pc.if_else(mask, "merged", status)
        head, _, tail = NOTE_MERGED.partition("{master}")
        master_note = pc.binary_join_element_wise(
            head, pc.cast(pa.array(placed.master_id), pa.string()), tail, ""
        )
        note = pc.if_else(mask, master_note, note)
    is_open = np.asarray(pc.equal(status, "open"))

    dispatched = np.asarray(placed.dispatched_at, dtype="datetime64[us]")
    due = np.full(placed.n, np.datetime64("NaT"), dtype="datetime64[us]")
    if is_open.any():
        due[is_open] = calendar.add_working_hours_many(dispatched[is_open], hours[is_open])
    timezone = calendar.config.timezone
    picked = roster.pick(placed.station, duty_slot(dispatched, timezone))
    officer = pc.if_else(
        pa.array(is_open),
        picked,
        pc.if_else(pa.array(merged), placed.master_officer, pa.nulls(placed.n, pa.string())),
    )
    events = _events(placed, status, tier, officer, due, source, timezone)
    return Decision(status=status, note=note, tier=tier, due_at=due, officer=officer, events=events)
