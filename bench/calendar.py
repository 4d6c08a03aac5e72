"""Bench: deadlines of 1M starts through the working-time calendar (bulk loading's step).

`python -m bench.calendar [--rows N] [--repeat R]`. Three forms on the same
random starts (three years from 2025, so the seam into uncovered years is in):
- `add_working_hours_many`: the legacy hours-only form that bulk calls;
- `deadline_many` in hours, with the provisional mask;
- `deadline_many` with 40 % of the rows in working days.
Baseline in the same run: one `np.searchsorted` of the starts into the
calendar's interval table, the floor of every form (they make two or four).
The machine is shared: each figure is the best of R runs, with its ratio to
the baseline's best; the load average is printed beside them. No database.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from cases.calendar import load_calendar


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    """Run the bench and print one line per form (markdown table rows)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.rows
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
        ("baseline: np.searchsorted", lambda: np.searchsorted(table.starts, t_int)),
        ("add_working_hours_many", lambda: cal.add_working_hours_many(starts, hours)),
        ("deadline_many, hours", lambda: cal.deadline_many(starts, hours)),
        ("deadline_many, 40 % days", lambda: cal.deadline_many(starts, mixed, in_days)),
    ]
    results = [(name, _best(fn, args.repeat)) for name, fn in forms]
    base = results[0][1]
    print(f"| form ({n:,} starts, best of {args.repeat}) | seconds | ÷ baseline | rows/s |")
    print("|---|---:|---:|---:|")
    for name, secs in results:
        print(f"| {name} | {secs:.3f} | {secs / base:.1f} | {n / secs:,.0f} |")
    print(f"load average {load0:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
