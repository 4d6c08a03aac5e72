"""stations: duty shifts and check-ins, patrols, frontage units and checks

Revision ID: 0007_stations
Revises: 0004
Create Date: 2026-11-25 14:00:00

A head of its own beside 0005, 0006 and 0007_lattice_steps (made at the same
time on the same parent); `gis.db.migrate()` upgrades to every head.

The exclusion constraint that refuses overlapping shifts of one officer
compares a varchar with `=` inside a GiST index, which needs btree_gist. It is
a trusted extension (PostgreSQL 13 and later), so the database's owner may
create it without being a superuser. The downgrade leaves the extension in
place: other schemas may use it, and it holds no data.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0007_stations"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in cases.stations.models at the time of this revision (migrations do not
# import the models: a later change there must not rewrite history here).
CHECK_KINDS = ("in", "out")
CHECK_FLAGS = ("ok", "outside", "no_location")
FRONTAGE_ITEMS = ("sanitation", "order", "greenery")


def _geom(kind: str, nullable: bool) -> Geometry:
    return Geometry(
        geometry_type=kind,
        srid=4326,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
        nullable=nullable,
    )


def _created_at(name: str = "created_at") -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "frontage_unit",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("lon_in", sa.Double(), nullable=False),
        sa.Column("lat_in", sa.Double(), nullable=False),
        sa.Column("crs_in", sa.String(length=16), nullable=False),
        sa.Column("geom", _geom("POINT", False), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("frontage_unit_community_idx", "frontage_unit", ["community_code"])
    op.create_index("frontage_unit_geom_idx", "frontage_unit", ["geom"], postgresql_using="gist")
    op.create_table(
        "duty_shift",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("officer_code", sa.String(length=16), nullable=False),
        sa.Column("station_code", sa.String(length=16), nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _created_at(),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        postgresql.ExcludeConstraint(
            (sa.column("officer_code"), "="),
            (sa.column("during"), "&&"),
            where=sa.text("cancelled_at IS NULL"),
            using="gist",
            name="duty_shift_no_overlap",
        ),
        sa.CheckConstraint(
            "NOT isempty(during) AND lower_inc(during) AND NOT upper_inc(during) "
            "AND NOT lower_inf(during) AND NOT upper_inf(during)",
            name="duty_shift_during_bounded",
        ),
        sa.ForeignKeyConstraint(["officer_code"], ["officer.code"]),
        sa.ForeignKeyConstraint(["station_code"], ["station.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "duty_shift_station_during_idx",
        "duty_shift",
        ["station_code", "during"],
        postgresql_using="gist",
    )
    op.create_table(
        "duty_check",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("shift_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lon_in", sa.Double(), nullable=True),
        sa.Column("lat_in", sa.Double(), nullable=True),
        sa.Column("crs_in", sa.String(length=16), nullable=True),
        sa.Column("geom", _geom("POINT", True), nullable=True),
        sa.Column("distance_m", sa.Double(), nullable=True),
        sa.Column("in_community", sa.Boolean(), nullable=True),
        sa.Column("counts", sa.Boolean(), nullable=False),
        sa.Column("flag", sa.String(length=12), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        _created_at("recorded_at"),
        sa.CheckConstraint(f"flag IN {CHECK_FLAGS!r}", name="duty_check_flag"),
        sa.CheckConstraint(f"kind IN {CHECK_KINDS!r}", name="duty_check_kind"),
        sa.ForeignKeyConstraint(["shift_id"], ["duty_shift.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("duty_check_shift_idx", "duty_check", ["shift_id", "at"])
    op.create_table(
        "patrol",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("officer_code", sa.String(length=16), nullable=False),
        sa.Column("station_code", sa.String(length=16), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_format", sa.String(length=8), nullable=False),
        sa.Column("crs_in", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("track", _geom("MULTILINESTRING", False), nullable=False),
        sa.Column("length_m", sa.Double(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("buffer_m", sa.Double(), nullable=False),
        sa.Column("covered_m2", sa.Double(), nullable=False),
        sa.Column("community_m2", sa.Double(), nullable=False),
        sa.Column("coverage", sa.Double(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _created_at(),
        sa.CheckConstraint("source_format IN ('geojson', 'gpx')", name="patrol_source_format"),
        sa.CheckConstraint("coverage BETWEEN 0 AND 1", name="patrol_coverage"),
        sa.CheckConstraint("ended_at >= started_at", name="patrol_times"),
        sa.ForeignKeyConstraint(["generation_id"], ["layout_generation.id"]),
        sa.ForeignKeyConstraint(["officer_code"], ["officer.code"]),
        sa.ForeignKeyConstraint(["station_code"], ["station.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("patrol_station_started_idx", "patrol", ["station_code", "started_at"])
    op.create_table(
        "patrol_grid",
        sa.Column("patrol_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("length_m", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrol.id"]),
        sa.PrimaryKeyConstraint("patrol_id", "grid_code"),
    )
    op.create_table(
        "patrol_finding",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("patrol_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("subclass_code", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "photos",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("lon_in", sa.Double(), nullable=False),
        sa.Column("lat_in", sa.Double(), nullable=False),
        sa.Column("crs_in", sa.String(length=16), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("filing_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrol.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patrol_id", "seq"),
    )
    op.create_index(
        "patrol_finding_unfiled_idx",
        "patrol_finding",
        ["patrol_id"],
        postgresql_where=sa.text("case_id IS NULL"),
    )
    op.create_table(
        "frontage_check",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("patrol_id", sa.BigInteger(), nullable=False),
        sa.Column("frontage_code", sa.String(length=32), nullable=False),
        sa.Column("item", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"item IN {FRONTAGE_ITEMS!r}", name="frontage_check_item"),
        sa.ForeignKeyConstraint(["frontage_code"], ["frontage_unit.code"]),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrol.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patrol_id", "frontage_code", "item"),
    )
    op.create_index("frontage_check_unit_idx", "frontage_check", ["frontage_code", "checked_at"])


def downgrade() -> None:
    op.drop_index("frontage_check_unit_idx", table_name="frontage_check")
    op.drop_table("frontage_check")
    op.drop_index("patrol_finding_unfiled_idx", table_name="patrol_finding")
    op.drop_table("patrol_finding")
    op.drop_table("patrol_grid")
    op.drop_index("patrol_station_started_idx", table_name="patrol")
    op.drop_table("patrol")
    op.drop_index("duty_check_shift_idx", table_name="duty_check")
    op.drop_table("duty_check")
    op.drop_index("duty_shift_station_during_idx", table_name="duty_shift")
    op.drop_table("duty_shift")
    op.drop_index("frontage_unit_geom_idx", table_name="frontage_unit")
    op.drop_index("frontage_unit_community_idx", table_name="frontage_unit")
    op.drop_table("frontage_unit")
