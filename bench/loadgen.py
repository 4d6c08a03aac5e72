"""A small closed-loop HTTP load generator, for when `wrk` is not installed.

Runs in its own process (bench/run.py starts it), `--connections` concurrent
clients each sending one request after the other, bounded by `--duration`
seconds and `--max-requests`, localhost only. Prints one JSON line shaped like
bench/wrk.lua's. Python costs more CPU per request than wrk, so on a small
machine its figures are a lower bound.

Run: `python -m bench.loadgen --url http://127.0.0.1:8000/select1 --duration 10`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit

import httpx
import numpy as np


async def _run(args: argparse.Namespace) -> dict[str, float]:
    points: list[list[float]] = []
    if args.mode == "post":
        with open(args.points, encoding="utf-8") as f:
            points = json.load(f)
    subclasses = args.subclasses.split(",")
    latencies: list[float] = []
    bad = 0
    errors = 0
    stop_at = time.perf_counter() + args.duration
    sent = 0
    limits = httpx.Limits(max_connections=args.connections)

    async def client_loop(client: httpx.AsyncClient, rng: random.Random) -> None:
        nonlocal bad, errors, sent
        while time.perf_counter() < stop_at and (not args.max_requests or sent < args.max_requests):
            sent += 1
            t0 = time.perf_counter()
            try:
                if args.mode == "post":
                    lon, lat = rng.choice(points)
                    body = {
                        "lon": round(lon + (rng.random() - 0.5) * 0.002, 6),
                        "lat": round(lat + (rng.random() - 0.5) * 0.002, 6),
                        "crs": "wgs84",
                        "subclass": rng.choice(subclasses),
                        "description": "bench: 压测投诉",
                        "address": "压测地址",
                    }
                    resp = await client.post(args.url, json=body)
                else:
                    resp = await client.get(args.url)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)
            if resp.status_code >= 300:
                bad += 1

    t_start = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        await asyncio.gather(
            *(client_loop(client, random.Random(i)) for i in range(args.connections))
        )
    elapsed = time.perf_counter() - t_start
    lat = np.array(latencies) * 1e6 if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "status_errors": bad,
        "connect_errors": errors,
        "read_errors": 0,
        "write_errors": 0,
        "timeouts": 0,
        "p50_us": float(np.percentile(lat, 50)),
        "p90_us": float(np.percentile(lat, 90)),
        "p99_us": float(np.percentile(lat, 99)),
        "max_us": float(lat.max()),
        "mean_us": float(lat.mean()),
    }


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=("get", "post"), default="get")
    parser.add_argument("--points", help="JSON file of [lon, lat] pairs (post)")
    parser.add_argument("--subclasses", default="0101")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=0)
    args = parser.parse_args()
    host = urlsplit(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load generator only targets localhost")
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
