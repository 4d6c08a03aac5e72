"""Bench: deadlines of 1M starts through the working-time calendar (bulk loading's step).

`python -m bench.calendar [--rows N] [--repeat R]`. Three forms on the same
random starts (three years from 2025, so the seam into uncovered years is in):
- `add_working_hours_many`: the legacy hours-only form that bulk calls;
- `deadline_many` in hours, with the provisional mask;
- `deadline_many` with 40 % of the rows in working days.
Baseline in the same run: one `np.searchsorted` of the starts into the
calendar's interval table, the floor of every form (they make two or four).
Reference in the same run: the scalar `deadline`, one call a row, on the first
20,000 starts (`--scalar-rows`), extrapolated to 1M.
The machine is shared: each figure is the best of R runs, with its ratio to
the baseline's best; the load average is printed beside them. No database.
`run()` returns the figures and `render()` the RESULTS.md lines (bench/run.py,
`--only calendar`).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cases.calendar import load_calendar


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _scalar(cal: Any, starts: np.ndarray, mixed: np.ndarray, in_days: np.ndarray) -> float:
    """Seconds of `deadline` (the scalar path) row by row over the given starts."""
    from cases.calendar.config import TimeLimit

    aware = [
        datetime.fromtimestamp(int(t) / 1e6, UTC)
        for t in starts.astype("datetime64[us]").astype(np.int64)
    ]
    limits = [
        TimeLimit.days(int(a)) if d else TimeLimit.hours(float(a))
        for a, d in zip(mixed.tolist(), in_days.tolist(), strict=True)
    ]
    t0 = time.perf_counter()
    for start, limit in zip(aware, limits, strict=True):
        cal.deadline(start, limit)
    return time.perf_counter() - t0


def run(rows: int = 1_000_000, repeat: int = 5, scalar_rows: int = 20_000) -> dict[str, Any]:
    """Time the forms on the same random starts; seconds (best of `repeat`) per form,
    and the scalar `deadline` row by row on the first `scalar_rows` of them."""
    n = rows
    rng = np.random.default_rng(11)
    span = 3 * 365 * 86_400 * 10**6
    starts = np.datetime64("2025-01-01T00:00:00", "us") + rng.integers(0, span, n).astype(
        "timedelta64[us]"
    )
    hours = rng.choice(np.array([0.5, 1, 2, 4, 8, 16, 24, 40]), n)
    in_days = rng.random(n) < 0.4
    mixed = np.where(in_days, rng.integers(1, 11, n), hours)
    cal = load_calendar()
    cal.deadline_many(starts[:10], mixed[:10], in_days[:10])  # build the tables once
    table = cal._table
    assert table is not None
    t_int = starts.astype(np.int64)
    load0 = os.getloadavg()[0]
    forms: list[tuple[str, Callable[[], object]]] = [
        (BASELINE, lambda: np.searchsorted(table.starts, t_int)),
        ("add_working_hours_many", lambda: cal.add_working_hours_many(starts, hours)),
        ("deadline_many, hours", lambda: cal.deadline_many(starts, hours)),
        ("deadline_many, 40 % days", lambda: cal.deadline_many(starts, mixed, in_days)),
    ]
    measured = [{"form": name, "seconds": round(_best(fn, repeat), 4)} for name, fn in forms]
    k = min(scalar_rows, n)
    scalar_s = _scalar(cal, starts[:k], mixed[:k], in_days[:k])
    return {
        "rows": n,
        "repeat": repeat,
        "forms": measured,
        "scalar": {
            "rows": k,
            "seconds": round(scalar_s, 3),
            "per_1M_s": round(scalar_s / k * 1e6, 1),
        },
        "loadavg": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


BASELINE = "baseline: np.searchsorted"


def _rows(r: dict[str, Any]) -> list[str]:
    base = r["forms"][0]["seconds"]
    out = [
        f"| form ({r['rows']:,} starts, best of {r['repeat']}) | seconds | ÷ baseline | rows/s |",
        "|---|---:|---:|---:|",
    ]
    for f in r["forms"]:
        name, secs = f["form"], f["seconds"]
        out.append(f"| {name} | {secs:.3f} | {secs / base:.1f} | {r['rows'] / secs:,.0f} |")
    return out


def render(r: dict[str, Any]) -> list[str]:
    """Markdown lines for bench/RESULTS.md."""
    mixed = r["forms"][-1]["seconds"]
    sc = r.get("scalar")
    scalar = (
        [
            f"- vectorised against scalar: `deadline` row by row (the scalar path, one Python "
            f"call a row) took {sc['seconds']} s for {sc['rows']:,} of the same starts, about "
            f"{sc['per_1M_s']:,} s for 1M; `deadline_many` with 40 % days does {r['rows']:,} in "
            f"{mixed:.3f} s, {sc['per_1M_s'] / (mixed / r['rows'] * 1e6):,.0f} × faster a row.",
        ]
        if sc
        else []
    )
    return [
        "## Working-hours calendar: deadlines in bulk (bench/calendar.py)",
        "",
        f"Deadlines of {r['rows']:,} random starts over three years from 2025 (so the seam "
        "into years no holiday source covers is in) through `cases.calendar`, vectorised "
        "over whole columns as bulk loading calls it: the hours-only form, `deadline_many` "
        "in hours (with the provisional mask) and with 40 % of the limits in working days. "
        "Baseline in the same run: one `np.searchsorted` of the starts into the calendar's "
        "interval table, the floor of every form (they make two or four). No database. "
        f"Load average {r['loadavg'][0]} → {r['loadavg'][1]}.",
        "",
        *_rows(r),
        "",
        *scalar,
        "- no target of its own in the issues: the deadlines are a step of `grid assign` "
        "(end to end ≤ 15 s for 1M rows, see the bulk part).",
        "",
    ]


def main() -> None:
    """Run the bench and print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scalar-rows", type=int, default=20_000)
    args = parser.parse_args()
    r = run(args.rows, args.repeat, args.scalar_rows)
    print("\n".join(_rows(r)))
    print(f"scalar deadline: {r['scalar']['seconds']} s for {r['scalar']['rows']:,} rows")
    print(f"load average {r['loadavg'][0]:.2f} -> {r['loadavg'][1]:.2f}")


if __name__ == "__main__":
    main()
