"""The events of intake (rule 5 of cases.intake.rules), written over columns.

In this order: `created` (actor: the door), `located` (when there are
coordinates), `tier_raised` (when a rule raised the tier), then the one that
says where the case went. Their data holds only what the case row's columns
do not (those hold the values at filing; every later change is an event of
its own, with what it changed): the layout generation a point was located
in, the subclass's default tier (before a rule raised it), the officer
dispatched to and the moment of dispatch (the ledgers read both), how a tier
was raised; `{}` otherwise. A million cases write three or
four million events, so every byte counts (bench/RESULTS.md).

A file's history (rule 6) adds the case's later course after them
(`history_events`: started, closed, evaluated) and dates every event by the
row's own times (`dated_events`).

Each kind is built on its own rows; the data of a kind is worked out once
per distinct combination of its values, the times per row in C (pyarrow).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cases.intake.columns import FEW, Strings, Times, per_combination

if TYPE_CHECKING:
    from cases.intake.rules import History, Placed


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def _json_times(times: Times, timezone: str) -> pa.Array:
    """Times as JSON strings: ISO 8601 local time of `timezone` with its offset, as
    datetime.isoformat() writes them (no fraction when it is zero); null for NaT.

    A handful (the single path) are written by isoformat() itself; many by
    pyarrow to the same form (tests/test_doors.py compares the two paths)."""
    utc = np.asarray(times, dtype="datetime64[us]")
    if len(utc) <= FEW:
        zone = ZoneInfo(timezone)
        return pa.array(
            [
                "null"
                if np.isnat(t)
                else json.dumps(_at(int(t.astype(np.int64))).astimezone(zone).isoformat())
                for t in utc
            ],
            pa.string(),
        )
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
class Raised:
    """Rule 2's outcome: which rows were raised, from which tier, by which rule."""

    mask: npt.NDArray[np.bool_]
    default: Strings
    rule: Strings
    count: npt.NDArray[np.int64]
    window_days: float


def intake_events(
    placed: Placed,
    status: Strings,
    tier: Strings,
    officer: Strings,
    holder: tuple[Strings, Strings],
    due_at: Times,
    raised: Raised,
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

    # What the case row's columns hold (subclass, tier, where it was located, station,
    # squad, holder, due time, master, neighbour) is not repeated here.
    groups: list[tuple[str, npt.NDArray[np.bool_], pa.Array]] = []
    every = np.ones(n, dtype=bool)
    groups.append(("created", every, per_combination([raised.default], _json(("tier",)))))
    located = on(has_point, placed.generation)
    groups.append(("located", has_point, per_combination(located, _json(("generation",)))))
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
    if o.any():  # the officer dispatched to, and when (the ledgers read both)
        head = per_combination(on(o, officer), _json(("officer_code",), close=False))
        data = pc.binary_join_element_wise(
            head, ',"dispatched_at":', _json_times(placed.dispatched_at[o], timezone), "}", ""
        )
        groups.append(("dispatched", o, data))
    for kind, state in (
        ("filed", "filed"),
        ("merged", "duplicate"),
        ("referred_out", "referred_out"),
        ("needs_location", "received"),
    ):
        mask = where(state)
        if mask.any():
            groups.append((kind, mask, pa.repeat(pa.scalar("{}"), int(mask.sum()))))
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


NOTE_HISTORY = "据导入的历史记录"
"""The note of a move a file recorded (rule 6 of cases.intake.rules): no account took it."""


def _utc(values: Times) -> pa.Array:
    return pa.array(np.asarray(values, dtype="datetime64[us]"), pa.timestamp("us", "UTC"))


def _rated(rating: int) -> str:
    return _json(("from", "to", "rating", "note"))("closed", "evaluated", rating, NOTE_HISTORY)


def dated_events(events: pa.Table, reported_at: Times, dispatched_at: Times) -> pa.Table:
    """Intake events dated by their complaint's own times (rule 6): `dispatched` at the
    clock's start, the others at `reported_at` (a load without history leaves them to
    the database: the moment they are written)."""
    row = np.asarray(events.column("row").to_numpy(), dtype=np.int64)
    dispatched = np.asarray(pc.equal(events.column("kind"), "dispatched"), dtype=bool)
    at = np.where(
        dispatched,
        np.asarray(dispatched_at, dtype="datetime64[us]")[row],
        np.asarray(reported_at, dtype="datetime64[us]")[row],
    )
    return events.append_column("at", _utc(at))


def history_events(
    history: History,
    status: Strings,
    applied: npt.NDArray[np.bool_],
    finished: npt.NDArray[np.bool_],
    events: pa.Table,
    dispatched_at: Times,
    source: str,
) -> pa.Table:
    """The course a file recorded after intake (rule 6), numbered after each complaint's
    intake events: `started` (in progress; dated at dispatch, the file has no time for
    it), `closed` at `closed_at`, then `evaluated` with the rating (dated at closure).
    `status` holds the final statuses, `applied`
    the rows that took the file's and `finished` those closed (or evaluated) by it."""
    n = len(status)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(
        last,
        np.asarray(events.column("row").to_numpy(), dtype=np.int64),
        np.asarray(events.column("seq").to_numpy(), dtype=np.int64),
    )
    started = applied & np.asarray(pc.equal(status, "in_progress"), dtype=bool)
    evaluated = applied & np.asarray(pc.equal(status, "evaluated"), dtype=bool)
    closed_at = np.asarray(history.closed_at, dtype="datetime64[us]")
    move = _json(("from", "to", "note"))
    parts = (
        ("started", started, 1, np.asarray(dispatched_at, dtype="datetime64[us]")),
        ("closed", finished, 1, closed_at),
        ("evaluated", evaluated, 2, closed_at),
    )
    rows, seqs, kinds, data, ats = [], [], [], [], []
    for kind, mask, step, times in parts:
        picked = np.flatnonzero(mask)
        rows.append(picked)
        seqs.append(last[picked] + step)
        kinds.append(pa.repeat(pa.scalar(kind), len(picked)))
        ats.append(times[picked])
        if kind == "evaluated":
            rating = pa.array(np.asarray(history.rating, dtype=np.int64)[picked])
            data.append(per_combination([rating], _rated))
        else:
            text = move("dispatched", kind.replace("started", "in_progress"), NOTE_HISTORY)
            data.append(pa.repeat(pa.scalar(text), len(picked)))
    count = sum(len(r) for r in rows)
    return pa.table(
        {
            "row": pa.array(np.concatenate(rows), pa.int64()),
            "seq": pa.array(np.concatenate(seqs), pa.int64()),
            "kind": pa.concat_arrays(kinds),
            "actor": pa.repeat(pa.scalar(source), count),
            "data": pa.concat_arrays(data),
            "at": _utc(np.concatenate(ats)),
        }
    )
