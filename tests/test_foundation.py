"""The foundation: migrations, the sample district as loaded, personal data, the server."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from other_database import on_database
from sqlalchemy.engine import Engine

from gis.db import alembic_config, drop_database, ensure_database, migrate
from gis.privacy import decrypt, mask_name, mask_phone
from gis.settings import ROOT, Settings
from sample.seed import load_sample, sample_files

GRID = str(ROOT / ".venv" / "bin" / "grid")


def test_migrations_match_the_models(settings: Settings) -> None:
    """`alembic check`: no change in the models lacks a migration."""
    command.check(alembic_config(settings.owner_url_for()))


def test_migrations_up_down_up_from_empty(settings: Settings) -> None:
    name = f"cg_scratch_{uuid.uuid4().hex[:8]}"
    scratch = on_database(settings, name)
    ensure_database(scratch)
    try:
        migrate(scratch)
        command.downgrade(alembic_config(scratch.owner_url_for()), "base")
        engine = sa.create_engine(scratch.owner_url_for())
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        engine.dispose()
        assert tables <= {"alembic_version", "spatial_ref_sys"}
        migrate(scratch)
    finally:
        drop_database(scratch, name)


def test_sample_district_looks_real(engine: Engine, sample_layout: int) -> None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""
            WITH gen AS (SELECT id FROM layout_generation WHERE is_current)
            SELECT
              (SELECT array_agg(name ORDER BY code) FROM subdistrict, gen
               WHERE generation_id = gen.id),
              (SELECT count(*) FROM community, gen WHERE generation_id = gen.id),
              (SELECT count(*) FROM grid_cell, gen WHERE generation_id = gen.id),
              (SELECT sum(area_m2) / 1e6 FROM grid_cell, gen WHERE generation_id = gen.id),
              (SELECT ST_Area(geom::geography) / 1e6 FROM district, gen
               WHERE generation_id = gen.id AND is_home)
        """)
        ).one()
        names, communities, grids, grid_km2, district_km2 = row
        assert sorted(names) == sorted(
            [
                "环市街道",
                "潮连街道",
                "白沙街道",
                "北街街道",
                "堤东街道",
                "仓后街道",
                "荷塘镇",
                "杜阮镇",
                "棠下镇",
            ]
        )
        assert communities >= 100 and 1500 <= grids <= 2500
        assert 300 < district_km2 < 350, "the real outline of 蓬江区 is about 325 km²"
        assert grid_km2 == pytest.approx(district_km2, rel=0.005), "grids tile the district"
        # Smaller grids in the urban core than in the towns.
        core, towns = conn.execute(
            sa.text("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g.area_m2)
                     FILTER (WHERE s.name LIKE '%街道'),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY g.area_m2)
                     FILTER (WHERE s.name LIKE '%镇')
            FROM grid_cell g JOIN layout_generation l ON l.id = g.generation_id AND l.is_current
            JOIN subdistrict s ON s.generation_id = g.generation_id
                 AND s.code = left(g.code, 9)""")
        ).one()
        assert core * 3 < towns
        # One station per community, two or more officers at each, a squad for each.
        lonely = conn.execute(
            sa.text("""
            SELECT c.code FROM community c
            JOIN layout_generation l ON l.id = c.generation_id AND l.is_current
            LEFT JOIN station s ON s.community_code = c.code
            LEFT JOIN squad_community sc ON sc.community_code = c.code
            WHERE s.code IS NULL OR sc.squad_code IS NULL
               OR (SELECT count(*) FROM officer o
                   WHERE o.station_code = s.code AND o.active) < 2""")
        ).all()
        assert lonely == []
        outside = conn.execute(
            sa.text("""
            SELECT count(*) FROM station s JOIN community c ON c.code = s.community_code
            JOIN layout_generation l ON l.id = c.generation_id AND l.is_current
            WHERE NOT ST_Covers(c.geom, s.geom)""")
        ).scalar_one()
        assert outside == 0


def test_loading_the_sample_twice_changes_nothing(engine: Engine, sample_layout: int) -> None:
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM layout_generation")).scalar_one()
    again = load_sample(engine)
    assert again.loaded is False and again.generation == sample_layout
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM layout_generation")).scalar_one()
    assert after == before
    assert all(p.exists() for p in sample_files(Settings()))


def test_officer_phone_is_encrypted_at_rest_and_masked(engine: Engine, sample_layout: int) -> None:
    phone = (ROOT / "data" / "sample" / "officers.csv").read_text().splitlines()[1].split(",")[2]
    with engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT phone_enc, name_enc FROM officer ORDER BY code LIMIT 1")
        ).one()
    assert phone.encode() not in bytes(raw.phone_enc)
    assert decrypt(raw.phone_enc) == phone
    masked = mask_phone(phone)
    assert masked is not None and masked[:3] == phone[:3] and masked[-4:] == phone[-4:]
    assert "****" in masked
    assert mask_name("张三丰") == "张*丰" and mask_name("李四") == "李*"


def test_db_status_says_running() -> None:
    run = subprocess.run([GRID, "db", "status"], capture_output=True, text=True, check=False)
    if os.environ.get("DATABASE_URL"):
        assert "not managed" in run.stdout
    else:
        assert run.returncode == 0 and "running" in run.stdout
        assert "password on TCP" in run.stdout


def test_db_commands_are_no_ops_with_database_url() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    for verb in ("start", "stop"):
        run = subprocess.run(
            [GRID, "db", verb], capture_output=True, text=True, env=env, check=False
        )
        assert run.returncode == 0 and "DATABASE_URL is set" in run.stdout


def test_unreachable_database_is_a_clear_error() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    run = subprocess.run(
        [GRID, "locate", "113.08", "22.59"], capture_output=True, text=True, env=env, check=False
    )
    assert run.returncode == 3 and "not reachable" in run.stderr
    assert "Traceback" not in run.stderr
