"""The organisation on the layout: squads, stations, officers, departments.

Loaded from a folder of plain files (the bureau edits them in a spreadsheet):
squads.csv, stations.geojson, officers.csv, departments.csv,
grid_departments.csv, and the `squad_code` of communities.geojson. Loading is
an upsert keyed by code; officers missing from the file are deactivated, never
deleted (cases refer to them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from gis import crs as crsmod
from gis.models import ROLES
from gis.privacy import encrypt

OFFICER_COLUMNS = (
    "code",
    "name",
    "phone",
    "role",
    "station_code",
    "squad_code",
    "duty_weekday",
    "duty_half",
)
"""The columns of officers.csv, in order (the sample generator writes these)."""


class OrganisationError(ValueError):
    """An organisation file that cannot be loaded; the message says where."""


def _csv(path: Path, required: list[str]) -> list[dict[str, str]]:
    if not path.exists():
        raise OrganisationError(f"{path}: missing")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise OrganisationError(f"{path}: missing columns {missing}")
    return [{str(k): str(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _none(value: str) -> str | None:
    return value.strip() or None


def load_organisation(conn: Connection, folder: Path, crs: str = "wgs84") -> dict[str, int]:
    """Upsert the organisation files of `folder`; returns counts per table."""
    squads = _csv(folder / "squads.csv", ["code", "name", "subdistrict_code"])
    officers = _csv(
        folder / "officers.csv",
        list(OFFICER_COLUMNS),
    )
    departments = _csv(folder / "departments.csv", ["code", "name"])
    grid_departments = _csv(folder / "grid_departments.csv", ["grid_code", "department_code"])
    stations = gpd.read_file(folder / "stations.geojson", engine="pyogrio")
    communities = gpd.read_file(
        folder / "communities.geojson",
        engine="pyogrio",
        columns=["code", "squad_code"],
        read_geometry=False,
    )
    bad_roles = sorted({r["role"] for r in officers} - set(ROLES))
    if bad_roles:
        raise OrganisationError(f"officers.csv: unknown roles {bad_roles}; use {ROLES}")

    conn.execute(
        sa.text("""
        INSERT INTO squad (code, name, subdistrict_code) VALUES (:code, :name, :sub)
        ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
            subdistrict_code = EXCLUDED.subdistrict_code"""),
        [
            {"code": r["code"], "name": r["name"], "sub": _none(r["subdistrict_code"])}
            for r in squads
        ],
    )
    conn.execute(
        sa.text("""
        INSERT INTO squad_community (community_code, squad_code) VALUES (:c, :s)
        ON CONFLICT (community_code) DO UPDATE SET squad_code = EXCLUDED.squad_code"""),
        [
            {"c": str(c), "s": str(s)}
            for c, s in zip(communities["code"], communities["squad_code"], strict=True)
            if s
        ],
    )
    xs, ys = crsmod.to_wgs84(
        shapely.get_x(stations.geometry.values), shapely.get_y(stations.geometry.values), crs
    )
    conn.execute(
        sa.text("""
        INSERT INTO station (code, name, community_code, address, geom)
        VALUES (:code, :name, :community, :address, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
            community_code = EXCLUDED.community_code, address = EXCLUDED.address,
            geom = EXCLUDED.geom"""),
        [
            {
                "code": c,
                "name": n,
                "community": cc,
                "address": a or "",
                "x": float(x),
                "y": float(y),
            }
            for c, n, cc, a, x, y in zip(
                stations["code"],
                stations["name"],
                stations["community_code"],
                stations["address"],
                xs,
                ys,
                strict=True,
            )
        ],
    )
    rows: list[dict[str, Any]] = [
        {
            "code": r["code"],
            "name": encrypt(r["name"]),
            "phone": encrypt(r["phone"]),
            "role": r["role"],
            "station": _none(r["station_code"]),
            "squad": _none(r["squad_code"]),
            "wd": int(r["duty_weekday"]) if r["duty_weekday"].strip() else None,
            "half": _none(r["duty_half"]),
        }
        for r in officers
    ]
    conn.execute(
        sa.text("""
        INSERT INTO officer (code, name_enc, phone_enc, role, station_code, squad_code,
                             duty_weekday, duty_half, active)
        VALUES (:code, :name, :phone, :role, :station, :squad, :wd, :half, true)
        ON CONFLICT (code) DO UPDATE SET name_enc = EXCLUDED.name_enc,
            phone_enc = EXCLUDED.phone_enc, role = EXCLUDED.role,
            station_code = EXCLUDED.station_code, squad_code = EXCLUDED.squad_code,
            duty_weekday = EXCLUDED.duty_weekday, duty_half = EXCLUDED.duty_half,
            active = true"""),
        rows,
    )
    conn.execute(
        sa.text("UPDATE officer SET active = false WHERE code <> ALL(:codes)"),
        {"codes": [r["code"] for r in officers]},
    )
    conn.execute(
        sa.text("""
        INSERT INTO department (code, name) VALUES (:code, :name)
        ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name"""),
        [{"code": r["code"], "name": r["name"]} for r in departments],
    )
    conn.execute(sa.text("DELETE FROM grid_department"))
    conn.execute(
        sa.text("""
        INSERT INTO grid_department (grid_code, department_code) VALUES (:g, :d)"""),
        [{"g": r["grid_code"], "d": r["department_code"]} for r in grid_departments],
    )
    return {
        "squads": len(squads),
        "stations": len(stations),
        "officers": len(officers),
        "departments": len(departments),
        "grid_departments": len(grid_departments),
    }


def summary(engine: Engine) -> dict[str, int]:
    """Counts per level in the current generation, and of the organisation."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.text("""
            WITH gen AS (SELECT id FROM layout_generation WHERE is_current)
            SELECT
              (SELECT count(*) FROM district, gen WHERE generation_id = gen.id) AS districts,
              (SELECT count(*) FROM subdistrict, gen WHERE generation_id = gen.id) AS subdistricts,
              (SELECT count(*) FROM community, gen WHERE generation_id = gen.id) AS communities,
              (SELECT count(*) FROM grid_cell, gen WHERE generation_id = gen.id) AS grids,
              (SELECT count(*) FROM station) AS stations,
              (SELECT count(*) FROM squad) AS squads,
              (SELECT count(*) FROM officer WHERE active) AS officers,
              (SELECT count(*) FROM layout_generation) AS generations
        """)
            )
            .mappings()
            .one()
        )
    return dict(row)
