"""`grid serve` as a real process: health, then a complaint over a real socket."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from browser_harness import grid_serve
from sqlalchemy.engine import Connection


def _request(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def test_serve_answers_over_a_socket(conn: Connection, tmp_path: Path) -> None:
    row = conn.execute(
        sa.text("""
        SELECT g.code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
        FROM grid_cell g JOIN layout_generation lg ON lg.id = g.generation_id AND lg.is_current
        CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
        ORDER BY g.code OFFSET 777 LIMIT 1""")
    ).one()
    # as shipped: one worker process per core; every worker imports the whole app
    with grid_serve(tmp_path, "--no-access-log", wait_s=180) as (base, log):
        status, health = _request(f"{base}/healthz")
        assert status == 200 and health["database"] == "up", log.read_text()
        workers = os.cpu_count() or 1
        assert f"with {workers} worker" in log.read_text(), log.read_text()

        status, answer = _request(
            f"{base}/api/v1/complaints",
            {
                "lon": float(row.lon),
                "lat": float(row.lat),
                "crs": "wgs84",
                "subclass": "0205",
                "description": "宣传车高音喇叭 (serve test)",
                "address": "测试地址",
            },
        )
        assert status == 201, answer
        assert answer["grid_code"] == row.code
        assert answer["status"] in ("dispatched", "duplicate")
        assert answer["token"] and answer["id"]
        assert answer["status"] == "duplicate" or answer["due_at"] is not None
        status, tracked = _request(f"{base}/api/v1/complaints/by-token/{answer['token']}")
        assert status == 200 and tracked["grid_code"] == row.code
        status, _bad = _request(f"{base}/api/v1/complaints", {"lon": 1e999, "lat": 22.6})
        assert status == 422
