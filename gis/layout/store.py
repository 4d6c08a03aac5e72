"""Layout generations in the database: write, read, list and make current.

Every write makes a complete new generation (the loaded levels replaced, the
others carried forward) and makes it current in the same transaction, as
MapIt does: a failed load leaves nothing behind, and a case keeps the exact
grid row it was located in while the layout moves on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import crs as crsmod
from gis.layout.base import PARENT_COLUMN, TABLE, CheckReport, Finding, Layer, LayoutError
from gis.models import LEVELS, PARENT
from gis.settings import Settings, get_settings


def current_generation(conn: Connection) -> int | None:
    """The id of the current generation, or None before the first load."""
    return conn.execute(sa.text("SELECT id FROM layout_generation WHERE is_current")).scalar()


def read_level(conn: Connection, level: str, generation: int | None = None) -> gpd.GeoDataFrame:
    """One level of a generation (default: current) as a WGS84 GeoDataFrame."""
    gen = generation if generation is not None else current_generation(conn)
    parent_col = PARENT_COLUMN.get(level)
    name = "code AS name" if level == "grid" else "name"
    sql = (
        f"SELECT code, {name}, {parent_col or 'NULL'} AS parent_code, geom "
        f"FROM {TABLE[level]} WHERE generation_id = :gen"
    )
    if level == "district":
        sql += " AND is_home"
    sql += " ORDER BY code"
    frame = gpd.read_postgis(sa.text(sql), conn, params={"gen": gen}, geom_col="geom")
    return frame.rename_geometry("geometry")


def _insert_level(conn: Connection, gen: int, layer: Layer, settings: Settings) -> None:
    frame = layer.frame
    wkb = shapely.to_wkb(frame.geometry.values, hex=True)
    level = layer.level
    rows: list[dict[str, Any]]
    if level == "district":
        rows = [
            {"g": gen, "c": c, "n": n or c, "h": c == settings.home_district_code, "w": w}
            for c, n, w in zip(frame["code"], frame["name"], wkb, strict=True)
        ]
        sql = (
            "INSERT INTO district (generation_id, code, name, is_home, geom) "
            "VALUES (:g, :c, :n, :h, ST_Multi(ST_GeomFromWKB(decode(:w, 'hex'), 4326)))"
        )
    elif level == "grid":
        areas = crsmod.to_metric(frame.geometry).area.round(1).to_numpy()
        rows = [
            {"g": gen, "c": c, "p": p, "a": float(a), "w": w}
            for c, p, a, w in zip(frame["code"], frame["parent_code"], areas, wkb, strict=True)
        ]
        sql = (
            "INSERT INTO grid_cell (generation_id, code, community_code, area_m2, geom) "
            "VALUES (:g, :c, :p, :a, ST_Multi(ST_GeomFromWKB(decode(:w, 'hex'), 4326)))"
        )
    else:
        table, parent = TABLE[level], PARENT_COLUMN[level]
        rows = [
            {"g": gen, "c": c, "n": n or c, "p": p, "w": w}
            for c, n, p, w in zip(
                frame["code"], frame["name"], frame["parent_code"], wkb, strict=True
            )
        ]
        sql = (
            f"INSERT INTO {table} (generation_id, code, name, {parent}, geom) "
            "VALUES (:g, :c, :n, :p, ST_Multi(ST_GeomFromWKB(decode(:w, 'hex'), 4326)))"
        )
    conn.execute(sa.text(sql), rows)


_CARRY = {
    "district": "code, name, is_home, geom",
    "subdistrict": "code, name, district_code, geom",
    "community": "code, name, subdistrict_code, geom",
    "grid": "code, community_code, area_m2, geom",
}


def _carry_forward(
    conn: Connection,
    level: str,
    old: int,
    new: int,
    settings: Settings,
    except_codes: list[str] | None = None,
) -> None:
    """Copy a level's rows of generation `old` into `new` (all but `except_codes`).

    A carried district is home when its code is the settings' home district
    code, as a newly loaded one is: the settings, not the old row, say which.
    """
    cols = _CARRY[level]
    chosen = cols.replace("is_home", "code = :home") if level == "district" else cols
    sql = (
        f"INSERT INTO {TABLE[level]} (generation_id, {cols}) "
        f"SELECT :new, {chosen} FROM {TABLE[level]} WHERE generation_id = :old"
    )
    params: dict[str, Any] = {"new": new, "old": old, "home": settings.home_district_code}
    if except_codes:
        sql += " AND code <> ALL(:codes)"
        params["codes"] = except_codes
    conn.execute(sa.text(sql), params)


def _check_carried(conn: Connection, gen: int, level: str, settings: Settings) -> list[Finding]:
    """Children carried into a generation whose new parent no longer holds them."""
    child, parent = TABLE[level], TABLE[PARENT[level]]
    col = PARENT_COLUMN[level]
    rows = conn.execute(
        sa.text(f"""
        SELECT c.code, p.code IS NULL AS orphan,
               COALESCE(ST_Area(ST_Difference(c.geom, p.geom)::geography), 0) AS outside,
               ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat
        FROM {child} c
        LEFT JOIN {parent} p ON p.generation_id = c.generation_id AND p.code = c.{col}
        WHERE c.generation_id = :gen
          AND (p.code IS NULL OR NOT ST_Covers(p.geom, c.geom))
    """),
        {"gen": gen},
    ).all()
    findings = []
    for code, orphan, outside, lon, lat in rows:
        if orphan:
            findings.append(
                Finding(
                    "unknown_parent",
                    "error",
                    f"existing {level} {code} has no parent in the new layout",
                    code,
                    round(lon, 6),
                    round(lat, 6),
                )
            )
        elif outside > settings.outside_tolerance_m2:
            findings.append(
                Finding(
                    "outside_parent",
                    "error",
                    f"existing {level} {code} has {outside:,.0f} m² outside its "
                    "new parent; reload it too",
                    code,
                    round(lon, 6),
                    round(lat, 6),
                    round(outside, 1),
                )
            )
    return findings


def write_generation(
    conn: Connection,
    layers: Mapping[str, Layer],
    note: str,
    settings: Settings | None = None,
    source_hash: str | None = None,
) -> int:
    """Write a complete new generation with `layers` replaced, and make it current.

    Runs inside the caller's transaction; raises LayoutError (and the caller
    rolls back) if carried-forward levels no longer fit their new parents.
    """
    settings = settings or get_settings()
    old = current_generation(conn)
    digest = (
        source_hash
        or hashlib.sha256(
            "".join(sorted(f"{k}:{v.source_hash}" for k, v in layers.items())).encode()
        ).hexdigest()[:16]
    )
    gen = conn.execute(
        sa.text("INSERT INTO layout_generation (note, source_hash) VALUES (:n, :h) RETURNING id"),
        {"n": note, "h": digest},
    ).scalar_one()
    for level in LEVELS:
        if level in layers:
            _insert_level(conn, gen, layers[level], settings)
            if level == "district" and old is not None:
                codes = list(layers[level].frame["code"])
                _carry_forward(conn, level, old, gen, settings, codes)
        elif old is not None:
            _carry_forward(conn, level, old, gen, settings)
    conn.execute(
        sa.text("""
        INSERT INTO district_part (district_id, geom)
        SELECT id, ST_Subdivide(geom, 96) FROM district WHERE generation_id = :gen"""),
        {"gen": gen},
    )
    replaced = [LEVELS.index(level) for level in layers]
    findings: list[Finding] = []
    for level in LEVELS[min(replaced) + 1 :] if replaced else []:
        if level not in layers:
            findings += _check_carried(conn, gen, level, settings)
    if findings:
        report = CheckReport("carried", findings=findings)
        raise LayoutError("the new layout does not hold the levels below it", [report])
    conn.execute(sa.text("UPDATE layout_generation SET is_current = false WHERE is_current"))
    conn.execute(
        sa.text("UPDATE layout_generation SET is_current = true WHERE id = :g"), {"g": gen}
    )
    for table in ("district", "district_part", "subdistrict", "community", "grid_cell"):
        conn.execute(sa.text(f"ANALYZE {table}"))
    return gen


def list_generations(conn: Connection) -> list[dict[str, Any]]:
    """Every generation, newest first, with its counts per level."""
    rows = conn.execute(
        sa.text("""
        SELECT l.id, l.created_at, l.note, l.is_current,
               (SELECT count(*) FROM subdistrict s WHERE s.generation_id = l.id) AS subdistricts,
               (SELECT count(*) FROM community c WHERE c.generation_id = l.id) AS communities,
               (SELECT count(*) FROM grid_cell g WHERE g.generation_id = l.id) AS grids
        FROM layout_generation l ORDER BY l.id DESC""")
    ).mappings()
    return [dict(r) for r in rows]


def activate_generation(conn: Connection, generation: int) -> None:
    """Make an existing generation current again (undo a load); cases keep their grids."""
    exists = conn.execute(
        sa.text("SELECT 1 FROM layout_generation WHERE id = :g"), {"g": generation}
    ).scalar()
    if not exists:
        raise LayoutError(f"no generation {generation}; `grid layout list` shows them")
    conn.execute(sa.text("UPDATE layout_generation SET is_current = false WHERE is_current"))
    conn.execute(
        sa.text("UPDATE layout_generation SET is_current = true WHERE id = :g"), {"g": generation}
    )
