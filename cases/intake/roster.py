"""Who is on duty (值守) when: the officer a dispatched case goes to (rule 4 of
cases.intake.rules).

An officer's duty slot is a weekday and a half day (am before 12:00, pm) in
the local time of the calendar's zone; at the moment of dispatch, the
station's active officer on duty then holds the case, the lowest code first,
else the station's active officer with the lowest code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cases.intake.columns import FEW, Strings, Times

SLOTS = 14
"""Duty slots in a week: weekday (0 = Monday) × half day (am before 12:00, pm)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def duty_slot(times: Times, timezone: str) -> npt.NDArray[np.int64]:
    """The duty slot (weekday * 2 + pm) of each UTC time, in local time of `timezone`."""
    utc = np.asarray(times, dtype="datetime64[us]")
    if len(utc) <= FEW:  # the single path: datetime itself
        zone = ZoneInfo(timezone)
        out = []
        for t in utc:
            if np.isnat(t):
                out.append(-1)
                continue
            local = (_EPOCH + timedelta(microseconds=int(t.astype(np.int64)))).astimezone(zone)
            out.append(local.weekday() * 2 + (local.hour >= 12))
        return np.array(out, dtype=np.int64)
    ts = pa.array(utc, pa.timestamp("us", "UTC"))
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
