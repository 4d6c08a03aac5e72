"""The bulk bench's input: a CSV of N complaints in `grid assign`'s format.

Seeded and vectorised (a million rows in a few seconds). Points are spread
like the sample complaints' background (grids drawn by density, scattered
around their interior point), about 2.5 % across the border (referred out),
0.5 % with an address only and 0.1 % broken in the ways a hotline export
breaks (NaN, swapped, unknown subclass, bad date), so that every path of
`grid assign` is on the clock. Times spread over the last twelve months.
`run` changes every description a little, hence the file's hash: each bench
run assigns a new file rather than finding the last one assigned.

Run: `python -m bench.gen bench/out/complaints.csv --rows 1000000`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy.engine import Engine

from cases.catalogue import load_catalogue
from sample.complaints import profile_for, read_layout

DESCRIPTIONS = (
    "路边有垃圾堆放，请尽快处理",
    "有流动摊贩占道经营，影响通行",
    "夜间施工噪音扰民",
    "店铺出店经营，占用人行道",
    "共享单车乱停放，堵塞盲道",
    "小广告张贴在电线杆上",
    "下水道冒溢，污水横流",
    "大树倒伏压住路边车辆",
)


def generate(engine: Engine, path: Path, rows: int, seed: int = 1, run: int = 0) -> Path:
    """Write `rows` complaints to `path` (CSV); returns the path."""
    layout = read_layout(engine)
    subs = list(load_catalogue().subclasses)
    share = np.array([profile_for(s).share for s in subs])
    rng = np.random.default_rng([seed, run])
    n = rows
    grid = np.minimum(np.searchsorted(layout.grid_cdf, rng.random(n)), len(layout.lon) - 1)
    lon = layout.lon[grid] + rng.normal(0, 1, n) * layout.scatter_m[grid] / 102_700.0
    lat = layout.lat[grid] + rng.normal(0, 1, n) * layout.scatter_m[grid] / 110_700.0
    u = rng.random(n)
    out = u < 0.025
    k = rng.integers(0, len(layout.outside_lon), int(out.sum()))
    lon[out], lat[out] = layout.outside_lon[k], layout.outside_lat[k]
    lon_s = pc.cast(pa.array(np.round(lon, 6)), pa.string())
    lat_s = pc.cast(pa.array(np.round(lat, 6)), pa.string())
    code = np.array([s.code for s in subs], dtype=object)[
        rng.choice(len(subs), size=n, p=share / share.sum())
    ]
    now = int(datetime.now(UTC).timestamp()) - 86_400
    secs = now - rng.integers(0, 365 * 86_400, n)
    stamp = (secs + 8 * 3600).astype("datetime64[s]")  # written as local time, +08:00
    reported = np.char.add(np.datetime_as_string(stamp).astype(object).astype(str), "+08:00")
    desc = np.array(DESCRIPTIONS, dtype=object)[rng.integers(0, len(DESCRIPTIONS), n)]
    if run:
        desc = np.char.add(desc.astype(str), f" (run {run})").astype(object)
    address = np.where(rng.random(n) < 0.5, "", "蓬江区某街道某社区某路1号").astype(object)
    lon_col = np.asarray(lon_s.to_numpy(zero_copy_only=False), dtype=object)
    lat_col = np.asarray(lat_s.to_numpy(zero_copy_only=False), dtype=object)
    reported = reported.astype(object)
    # Address only.
    addr_only = (u >= 0.025) & (u < 0.03)
    lon_col[addr_only], lat_col[addr_only] = "", ""
    address[addr_only] = "蓬江区白沙街道某社区某路8号"
    # Broken rows, one kind each.
    broken = np.flatnonzero((u >= 0.03) & (u < 0.031))
    kinds = broken % 4
    lon_col[broken[kinds == 0]] = "NaN"
    swap = broken[kinds == 1]
    lon_col[swap], lat_col[swap] = lat_col[swap], lon_col[swap]
    code[broken[kinds == 2]] = "9999"
    reported[broken[kinds == 3]] = "昨天下午"
    table = pa.table(
        {
            "lon": pa.array(lon_col, pa.string()),
            "lat": pa.array(lat_col, pa.string()),
            "subclass": pa.array(code, pa.string()),
            "reported_at": pa.array(reported, pa.string()),
            "description": pa.array(desc, pa.string()),
            "address": pa.array(address, pa.string()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path


def main() -> None:
    """Generate a file from the command line (current database's layout)."""
    from gis.db import get_engine

    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run", type=int, default=0)
    args = parser.parse_args()
    generate(get_engine(), args.path, args.rows, args.seed, args.run)
    print(args.path)


if __name__ == "__main__":
    main()
